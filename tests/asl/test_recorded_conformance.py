"""The shared ASL cases recorded from real AWS: our interpreter must reproduce every one.

The cases live outside the project (``../shared/conformance/{asl,asl-jsonata}``, or
``$ASL_CONFORMANCE_DIR``) and are read, never copied. Status, error name, output and cause must
all match exactly. A case shown to be recorded wrongly would be listed in ``EXCEPTIONS`` with
its reason; none is.
"""

from __future__ import annotations

import json

import pytest

from pipeline.asl import execute
from tests.asl.recorded_cases import (
    MISSING,
    CaseFormatError,
    RecordedCase,
    case_folders,
    conformance_dir,
    load_cases,
    parse_case,
)

ROOT = conformance_dir()
FOLDERS = case_folders(ROOT)
CASES = [case for folder in FOLDERS for case in load_cases(folder, f"{folder.name}/")]
# Cases recorded wrongly, by name, with the evidence; none so far.
EXCEPTIONS: dict[str, str] = {}


def _id(case: RecordedCase | CaseFormatError) -> str:
    return case.name if isinstance(case, RecordedCase) else "unreadable"


@pytest.mark.skipif(not FOLDERS, reason=f"no recorded cases at {ROOT}")
@pytest.mark.parametrize("case", CASES or [None], ids=[_id(c) for c in CASES] or ["none"])
def test_recorded_case(case: RecordedCase | CaseFormatError | None) -> None:
    if case is None:
        pytest.fail(f"{ROOT} holds no *.json cases")
    if isinstance(case, CaseFormatError):
        pytest.fail(str(case))
    if case.name in EXCEPTIONS:
        pytest.xfail(EXCEPTIONS[case.name])
    result = execute(case.definition, case.input, case.resources)
    expected_status = case.status or ("FAILED" if case.error else "SUCCEEDED")
    got = (result.status, result.error if expected_status != "SUCCEEDED" else None)
    assert got == (expected_status, case.error), f"{case.name}: cause {result.cause!r}"
    if case.output is not MISSING and expected_status == "SUCCEEDED":
        assert result.output == case.output
    if case.cause is not None:
        assert result.cause == case.cause


# ------------------------------------------------------------ the reader itself

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def test_reader_accepts_the_common_spellings(tmp_path) -> None:
    (tmp_path / "a.json").write_text(
        json.dumps({"definition": json.dumps(PASS), "input": '{"a":1}', "output": '{"a":1}'})
    )
    (tmp_path / "b.json").write_text(
        json.dumps(
            {
                "one": {"Definition": PASS, "expected": {"status": "FAILED", "error": "E"}},
                "two": {"asl": PASS, "Input": {}, "expected": {"Output": {}}},
            }
        )
    )
    cases = list(load_cases(tmp_path))
    assert [c.name for c in cases] == ["a", "b::one", "b::two"]
    assert (cases[0].input, cases[0].output) == ({"a": 1}, {"a": 1})
    assert (cases[1].status, cases[1].error) == ("FAILED", "E")


def test_reader_names_what_it_cannot_read(tmp_path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"machine": PASS, "output": 1}))
    (problem,) = load_cases(tmp_path)
    assert isinstance(problem, CaseFormatError) and "bad.json" in str(problem)


def test_recorded_resources_fail_then_succeed() -> None:
    task = {"Type": "Task", "Resource": "arn:fn", "End": True}
    task["Retry"] = [{"ErrorEquals": ["Boom"], "IntervalSeconds": 1, "MaxAttempts": 2}]
    case = parse_case(
        "retry",
        {
            "definition": {"StartAt": "T", "States": {"T": task}},
            "input": {"x": 1},
            "resources": {"arn:fn": [{"error": "Boom", "cause": "first"}, "echo"]},
            "output": {"x": 1},
        },
    )
    result = execute(case.definition, case.input, case.resources)
    assert (result.status, result.output) == ("SUCCEEDED", case.output)


def test_the_reader_finds_both_folders_or_one_folder_given_directly(tmp_path) -> None:
    for name in ("asl", "asl-jsonata"):
        (tmp_path / name).mkdir()
    assert case_folders(tmp_path) == [tmp_path / "asl", tmp_path / "asl-jsonata"]
    assert case_folders(tmp_path / "asl-jsonata") == [tmp_path / "asl-jsonata"]
    assert case_folders(tmp_path / "absent") == []
