"""pyproject.toml, requirements-lock.txt and environment.yml (for conda users) stay in step.

pyproject.toml says what the project needs (bounds); requirements-lock.txt pins all of it, the
[dev] extra transitively, to exact versions with hashes (`make lock` writes it from
pyproject.toml, `make venv` installs it); environment.yml lists exactly pyproject.toml's Python
dependencies, pinned to the lock's versions.
"""

from __future__ import annotations

import platform
import re
import sys
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements-lock.txt"
REFRESH = "pyproject.toml changed without the lock: run `make lock` (then `make venv`)"


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pyproject_requirements() -> list[Requirement]:
    """The dependencies and every extra's, less the [dev] extra's reference to [local]."""
    own = canonicalize_name(project()["name"])
    reqs = [Requirement(r) for r in project()["dependencies"]]
    for extra in project()["optional-dependencies"].values():
        reqs += [r for r in map(Requirement, extra) if canonicalize_name(r.name) != own]
    return [r for r in reqs if r.marker is None or r.marker.evaluate()]


@dataclass
class Pin:
    version: str
    extras: frozenset[str]
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


PIN_LINE = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)(?:\[(?P<extras>[^\]]*)\])?==(?P<version>\S+)")


def lock_pins() -> dict[str, Pin]:
    """The lock's pins by canonical name, with their hashes and pip-compile's `# via` notes."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    in_via = False
    for line in LOCK.read_text().splitlines():
        if match := PIN_LINE.match(line):
            extras = frozenset(e.strip() for e in (match["extras"] or "").split(",") if e.strip())
            current = pins[canonicalize_name(match["name"])] = Pin(match["version"], extras)
            in_via = False
        elif line.startswith("    --hash=sha256:") and current is not None:
            current.hashes.append(line.split(":", 1)[1].rstrip(" \\"))
        elif line.startswith("    # via") and current is not None:
            rest = line.removeprefix("    # via").strip()
            in_via = not rest
            if rest:
                current.via.append(rest)
        elif in_via and line.startswith("    #   ") and current is not None:
            current.via.append(line.removeprefix("    #   ").strip())
        else:
            in_via = False
            if not line.startswith(" "):
                current = None
    return pins


def lock_direct_set(pins: dict[str, Pin]) -> set[str]:
    """What pip-compile says the project itself asks for (`# via order-pipeline-workbench`)."""
    own = project()["name"]
    return {name for name, pin in pins.items() if any(v.split(" (")[0] == own for v in pin.via)}


def conda_pip_requirements() -> list[Requirement]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return [Requirement(r) for r in pip if not r.startswith("-e")]


def test_lock_is_exact_versions_with_hashes():
    """Every line pip reads is `name[extras]==version` with hashes: no ranges, URLs or options."""
    text = LOCK.read_text()
    pins = lock_pins()
    assert pins
    for line in text.splitlines():
        if line and not line.startswith((" ", "#")):
            assert PIN_LINE.match(line) and line.endswith(" \\"), f"not an exact pin: {line!r}"
    for name, pin in pins.items():
        assert pin.hashes, f"{name} has no hash: `pip install --require-hashes` would refuse it"
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in pin.hashes), name
    assert "file://" not in text and "--index-url" not in text and "-e " not in text
    own = canonicalize_name(project()["name"])
    assert own not in pins, "the project itself is installed from the work tree, not the lock"


def test_lock_admits_every_pyproject_requirement():
    pins = lock_pins()
    for req in pyproject_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is not in the lock. {REFRESH}"
        pin = pins[name]
        assert req.specifier.contains(pin.version, prereleases=True), (
            f"the lock pins {name}=={pin.version}, outside {req}. {REFRESH}"
        )
        assert req.extras <= pin.extras, (
            f"pyproject.toml asks for {req} but the lock names the extras {sorted(pin.extras)}. "
            f"{REFRESH}"
        )


def test_lock_asks_directly_for_nothing_pyproject_does_not():
    wanted = {canonicalize_name(r.name) for r in pyproject_requirements()}
    direct = lock_direct_set(lock_pins())
    assert direct == wanted, (
        f"{REFRESH}: asked for by pyproject.toml only {sorted(wanted - direct)}, "
        f"by the lock only {sorted(direct - wanted)}"
    )


def test_environment_yml_mirrors_pyproject():
    """The same packages with the same extras (the versions are the next test's)."""
    conda = {canonicalize_name(r.name): r.extras for r in conda_pip_requirements()}
    pyproject = {canonicalize_name(r.name): r.extras for r in pyproject_requirements()}
    differ = {n: (conda.get(n), pyproject.get(n)) for n in conda.keys() | pyproject.keys()}
    differ = {n: extras for n, extras in differ.items() if extras[0] != extras[1]}
    assert not differ, f"extras in (environment.yml, pyproject.toml), None if absent: {differ}"


def test_environment_yml_pins_the_lock_versions():
    pins = lock_pins()
    for req in conda_pip_requirements():
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{req}: pin it with =="
        locked = pins[canonicalize_name(req.name)].version
        assert specs[0].version == locked, f"environment.yml has {req}, the lock {locked}"


def test_environment_yml_pins_the_same_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    assert project()["requires-python"] == ">=3.11"


# The two tests below read what is installed, so they run only in a virtualenv that
# `make venv` built from the lock (it leaves this stamp), on the platform the lock is for.
made_from_the_lock = pytest.mark.skipif(
    not (Path(sys.prefix) / ".installed").exists()
    or sys.version_info[:2] != (3, 11)
    or sys.platform != "linux"
    or platform.machine() != "x86_64",
    reason="not running in a virtualenv that `make venv` installed from the lock",
)


@made_from_the_lock
def test_installed_versions_are_the_locked_ones():
    wrong = {}
    for name, pin in lock_pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != pin.version:
            wrong[name] = (pin.version, installed)
    assert not wrong, f"(locked, installed) differ, run `make venv`: {wrong}"


@made_from_the_lock
def test_lock_holds_exactly_what_pyproject_pulls_in():
    """The dependency closure of pyproject's requirements, by the installed packages' metadata
    (the locked versions', see above), is the lock: nothing missing, nothing left over."""
    todo = [(r.name, r.extras) for r in pyproject_requirements()]
    reached: set[str] = set()
    done: set[tuple[str, str]] = set()
    while todo:
        name, extras = todo.pop()
        reached.add(canonicalize_name(name))
        for extra in {"", *extras}:
            if (key := (canonicalize_name(name), extra)) in done:
                continue
            done.add(key)
            for spec in metadata.requires(name) or []:
                req = Requirement(spec)
                if req.marker is None or req.marker.evaluate({"extra": extra}):
                    todo.append((req.name, req.extras))
    locked = set(lock_pins())
    assert reached == locked, (
        f"{REFRESH}: missing from the lock {sorted(reached - locked)}, "
        f"left over in it {sorted(locked - reached)}"
    )
