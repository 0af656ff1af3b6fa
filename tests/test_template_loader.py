"""The template's YAML loader: libyaml's, giving what PyYAML's pure-Python loader gives."""

from __future__ import annotations

import pytest
import yaml

from pipeline import template
from pipeline.template import INFRA_DIR, load_yaml


class _PurePythonLoader(yaml.SafeLoader):
    pass


_PurePythonLoader.add_multi_constructor("!", template._construct_tag)


@pytest.mark.parametrize("name", ["template.yaml", "openapi.yaml"])
def test_the_fast_loader_reads_the_infra_files_as_the_pure_python_one_does(name):
    text = (INFRA_DIR / name).read_text()
    assert load_yaml(text) == yaml.load(text, Loader=_PurePythonLoader)


def test_short_form_tags_become_the_long_form():
    text = "A: !Ref Table\nB: !GetAtt Fn.Arn\nC: !Sub [x, {}]\nD: !If {a: 1}\n"
    assert load_yaml(text) == {
        "A": {"Ref": "Table"},
        "B": {"Fn::GetAtt": ["Fn", "Arn"]},
        "C": {"Fn::Sub": ["x", {}]},
        "D": {"Fn::If": {"a": 1}},
    }
