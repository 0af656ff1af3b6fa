"""Reading the shared ASL cases recorded from real AWS (LocalStack snapshot tests).

Each ``*.json`` file under ``<conformance>/asl`` holds one case, or a list of cases, or an
object of named cases. A case has a definition, an input and what AWS returned: an output, or
an error (and cause). Field names vary between exporters, so a few spellings are accepted;
anything else is reported with the file and the keys found rather than guessed.

Task states need their resources: a case may describe them under ``resources`` (or
``mocks``), each as a result, an error, a list of those (one per call), or ``"echo"``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.asl import TaskFailed

ROOT = Path(__file__).resolve().parents[2]
MISSING = object()


FOLDERS = ("asl", "asl-jsonata")  # JSONPath; JSONata and variables


def conformance_dir() -> Path:
    """``$ASL_CONFORMANCE_DIR`` or ``../shared/conformance`` next to the project: the folder
    that holds ``asl/`` and ``asl-jsonata/`` (or, pointed at one of them, that folder)."""
    override = os.environ.get("ASL_CONFORMANCE_DIR")
    return Path(override) if override else ROOT.parent / "shared" / "conformance"


def case_folders(root: Path) -> list[Path]:
    """The case folders under ``root``: its ``asl``/``asl-jsonata`` subfolders, or ``root``
    itself when it holds the case files directly."""
    folders = [root / name for name in FOLDERS if (root / name).is_dir()]
    return folders or ([root] if root.is_dir() else [])


@dataclass
class RecordedCase:
    name: str
    definition: dict[str, Any]
    input: Any
    status: str | None  # SUCCEEDED / FAILED / TIMED_OUT when recorded
    output: Any = MISSING
    error: str | None = None
    cause: str | None = None
    resources: dict[str, Callable[[Any], Any]] = field(default_factory=dict)


class CaseFormatError(ValueError):
    """A case file this reader does not understand; names the file and what it found."""


def load_cases(folder: Path, prefix: str = "") -> Iterator[RecordedCase | CaseFormatError]:
    """Every case in ``folder``'s ``*.json`` files, named ``<prefix><file stem>::<case>``."""
    for path in sorted(folder.glob("*.json")):
        try:
            document = json.loads(path.read_text())
        except ValueError as error:
            yield CaseFormatError(f"{path.name}: not JSON ({error})")
            continue
        for suffix, raw in _entries(document):
            name = f"{prefix}{path.stem}{suffix}"
            try:
                yield parse_case(name, raw)
            except CaseFormatError as error:
                yield CaseFormatError(f"{path.name}{suffix}: {error}")


def _entries(document: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(document, list):
        for index, raw in enumerate(document):
            yield f"[{index}]", raw
    elif isinstance(document, dict) and isinstance(document.get("cases"), list):
        yield from _entries(document["cases"])
    elif (
        isinstance(document, dict)
        and _first(document, DEFINITION_KEYS) is MISSING
        and all(isinstance(v, dict) and "StartAt" not in v for v in document.values())
    ):  # named cases
        for key, raw in document.items():
            yield f"::{key}", raw
    else:
        yield "", document


DEFINITION_KEYS = ("definition", "Definition", "stateMachineDefinition", "state_machine", "asl")
INPUT_KEYS = ("input", "Input", "execution_input", "executionInput")
EXPECTED_KEYS = ("expected", "Expected", "expect", "result", "recorded")
OUTPUT_KEYS = ("output", "Output", "expected_output", "expectedOutput")
ERROR_KEYS = ("error", "Error", "expected_error", "expectedError")
CAUSE_KEYS = ("cause", "Cause", "expected_cause", "expectedCause")
STATUS_KEYS = ("status", "Status", "expected_status", "expectedStatus")
RESOURCE_KEYS = ("resources", "mocks", "tasks")


def parse_case(name: str, raw: Any) -> RecordedCase:
    if not isinstance(raw, dict):
        raise CaseFormatError(f"a case must be an object, found {type(raw).__name__}")
    definition = _json(_first(raw, DEFINITION_KEYS))
    if not isinstance(definition, dict) or "StartAt" not in definition:
        raise CaseFormatError(f"no state machine definition among keys {sorted(raw)}")
    expected = _first(raw, EXPECTED_KEYS)
    expected = _json(expected) if expected is not MISSING else raw
    if not isinstance(expected, dict):
        expected = {"output": expected}
    failure = _first(expected, ("failure", "executionFailedEventDetails"))
    if isinstance(failure, dict):
        expected = {**expected, **failure}
    output = _first(expected, OUTPUT_KEYS)
    error = _first(expected, ERROR_KEYS)
    status = _first(expected, STATUS_KEYS)
    if output is MISSING and error is MISSING and status is MISSING:
        raise CaseFormatError(f"no expected output, error or status among keys {sorted(raw)}")
    input_value = _first(raw, INPUT_KEYS)
    return RecordedCase(
        name=str(raw.get("name", name)),
        definition=definition,
        input={} if input_value is MISSING else _json(input_value),
        status=None if status is MISSING else str(status),
        output=output if output is MISSING else _json(output),
        error=None if error is MISSING else str(error),
        cause=_optional(_first(expected, CAUSE_KEYS)),
        resources=_resources(_first(raw, RESOURCE_KEYS)),
    )


def _resources(raw: Any) -> dict[str, Callable[[Any], Any]]:
    if raw is MISSING or raw is None:
        return {}
    if not isinstance(raw, dict):
        raise CaseFormatError("resources must map a Task's Resource to its behaviour")
    return {resource: _behaviour(resource, spec) for resource, spec in raw.items()}


def _behaviour(resource: str, spec: Any) -> Callable[[Any], Any]:
    calls = list(spec) if isinstance(spec, list) else [spec]
    replies = [_reply(resource, one) for one in calls]
    used = [0]

    def call(payload: Any) -> Any:
        reply = replies[min(used[0], len(replies) - 1)]
        used[0] += 1
        return reply(payload)

    return call


def _reply(resource: str, spec: Any) -> Callable[[Any], Any]:
    if spec == "echo":
        return lambda payload: payload
    if isinstance(spec, dict) and ("error" in spec or "Error" in spec):
        error = str(spec.get("error", spec.get("Error")))
        cause = str(spec.get("cause", spec.get("Cause", "")))

        def fail(_payload: Any) -> Any:
            raise TaskFailed(error, cause)

        return fail
    if isinstance(spec, dict) and _first(spec, ("result", "output", "Result")) is not MISSING:
        result = _json(_first(spec, ("result", "output", "Result")))
        return lambda _payload: result
    raise CaseFormatError(f"resource {resource}: behaviour {spec!r} is not understood")


def _first(mapping: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in mapping:
            return mapping[key]
    return MISSING


def _json(value: Any) -> Any:
    """Recorded payloads are often JSON text (as the APIs return them)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _optional(value: Any) -> str | None:
    return None if value is MISSING or value is None else str(value)
