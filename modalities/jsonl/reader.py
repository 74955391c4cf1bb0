"""Reading a JSON Lines manifest into raw examples, with errors that name the line.

Every non-blank line is one JSON object with a ``"task"``. A line with a
``"target"`` key is in the generic form (see :mod:`uio.modalities.jsonl.generic`)
and becomes a ``jsonl.generic`` example; any other line is in the flat form and
is passed to the task it names as is. Every example gains:

- ``"id"``: ``"<manifest file name>:<line number>"`` unless the line has one;
- ``"_base_dir"``: the manifest's folder (absolute), against which processors
  resolve relative file paths;
- ``"_source"``: ``"<manifest path>:<line number>"``, for error messages.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uio.modalities.jsonl.generic import GENERIC_TASK, generic_parts

_TASK_NAME = re.compile(r"^[a-z][a-z0-9_.]*$")
# How many reasons the skip warning quotes.
_REASONS_SHOWN = 3


class ManifestError(ValueError):
    """A manifest problem; the message starts with ``<path>:<line>:`` where a line is at fault."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        self.path, self.line, self.problem = path, line, problem
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


@dataclass
class Manifest:
    """The examples of one manifest, the key each is split by, and the lines skipped."""

    path: Path
    examples: list[dict[str, Any]] = field(default_factory=list)
    split_keys: list[str] = field(default_factory=list)
    skipped: list[ManifestError] = field(default_factory=list)


def read_manifest(path: str | Path, *, skip_bad_examples: bool = False) -> Manifest:
    """Read and check every line of a manifest.

    Raises:
        ManifestError: the file is missing or has no examples, or (unless
            ``skip_bad_examples``) a line is malformed.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        why = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ManifestError(
            path, None, f"manifest {why} (resolved to {path.resolve()}); expected a JSON Lines file"
        )
    manifest = Manifest(path=path)
    base_dir = str(path.resolve().parent)
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                text = _decode(raw, first=number == 1)
                if not text.strip():
                    continue
                example, key = _parse_line(text, path.name, number, base_dir)
                example["_source"] = f"{path}:{number}"
            except ValueError as exc:
                problem = exc.problem if isinstance(exc, ManifestError) else str(exc)
                error = ManifestError(path, number, problem)
                if not skip_bad_examples:
                    raise error from None
                manifest.skipped.append(error)
                continue
            manifest.examples.append(example)
            manifest.split_keys.append(key)
    if manifest.skipped:
        reasons = "; ".join(str(e) for e in manifest.skipped[:_REASONS_SHOWN])
        more = ", ..." if len(manifest.skipped) > _REASONS_SHOWN else ""
        warnings.warn(
            f"{path}: skipped {len(manifest.skipped)} bad line(s), kept "
            f"{len(manifest.examples)} (skip_bad_examples=True); first: {reasons}{more}",
            stacklevel=2,
        )
    if not manifest.examples:
        raise ManifestError(path, None, "no examples (the file is empty or every line is bad)")
    return manifest


def _decode(raw: bytes, *, first: bool) -> str:
    try:
        # utf-8-sig on the first line drops a byte-order mark some editors write.
        return raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (bad byte at column {exc.start + 1})") from None


def _parse_line(text: str, file_name: str, number: int, base_dir: str) -> tuple[dict[str, Any], str]:
    """One line -> (example, split key); a ValueError saying what was expected."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"not valid JSON ({exc.msg} at column {exc.colno}); expected one JSON object per line"
        ) from None
    if not isinstance(record, dict):
        raise ValueError(
            f"expected a JSON object like {{\"task\": ...}}, got a JSON {_json_type(record)}"
        )
    if "task" not in record:
        raise ValueError(
            'no "task" key; expected {"task": "my_task", "input": {...}, "target": {...}} '
            'or a flat record {"task": "<a registered task>", ...its fields}'
        )
    task = record["task"]
    if not isinstance(task, str) or not task.strip():
        raise ValueError(f'"task" must be a non-empty string, got {json.dumps(task)}')

    # Split by the user's id, or else by content: never by line number, which
    # would move examples between splits whenever a line is inserted above them.
    if "id" in record:
        key = f"id:{record['id']}"
    else:
        key = "content:" + json.dumps(record, sort_keys=True, ensure_ascii=False)

    example = dict(record)
    example["id"] = str(record["id"]) if "id" in record else f"{file_name}:{number}"
    example["_base_dir"] = base_dir
    if "target" in record:
        generic_parts(record)  # check now, so the error names the line
        example["task"] = GENERIC_TASK
        example["task_name"] = task
        example.setdefault("group", task)
    elif not _TASK_NAME.match(task):
        raise ValueError(
            f"task {task!r} is not a task name (lowercase letters, digits, '_' and '.'); "
            f'for a task of your own use the generic form with "input" and "target"'
        )
    return example, key


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
