"""Config problems: each with its file, key path, what was given and what was expected."""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ValidationError

COMMAND_LINE = "command line"
"""The source recorded for keys set by dotlist overrides."""

KeyPath = tuple[str | int, ...]



# --------------------------------------------------------------------------- errors


COMMAND_LINE = "command line"
"""The source recorded for keys set by dotlist overrides."""

KeyPath = tuple[str | int, ...]

_MISSING_KEY = "required key is missing"


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()
"""``ConfigIssue.given`` when nothing was given (a required key, a bad file)."""


@dataclass
class ConfigIssue:
    """One problem: where it is (file, key path, optionally line) and what was expected."""

    file: str
    key: str
    given: Any
    expected: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = (
            self.file
            + (f":{self.line}" if self.line else "")
            + (f":{self.key}" if self.key else "")
        )
        details = []
        if self.given is not MISSING:
            details.append(f"given: {_short(self.given)}")
        if self.expected:
            details.append(f"expected: {self.expected}")
        return f"{where}: {self.message}" + (f" ({'; '.join(details)})" if details else "")


class ConfigError(ValueError):
    """Every problem of a configuration, raised once after all were gathered."""

    def __init__(self, errors: Sequence[ConfigIssue], path: str | None = None) -> None:
        self.errors = list(errors)
        self.path = path
        super().__init__(str(self))

    def __str__(self) -> str:
        n = len(self.errors)
        head = f"{n} problem{'s' if n != 1 else ''} in {self.path or 'the configuration'}:"
        return "\n".join([head, *(f"  {issue}" for issue in self.errors)])


def _short(value: Any, limit: int = 80) -> str:
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _did_you_mean(name: Any, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(name), list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _key(path: KeyPath) -> str:
    """``("data", "sources", 0, "dataset")`` -> ``data.sources[0].dataset``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _display(path: Path) -> str:
    """A path relative to the working directory when it lies below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if rel.startswith("..") else rel



# --------------------------------------------------------------------------- pydantic errors


def _union_members(ann: Any) -> list[Any] | None:
    if typing.get_origin(ann) in (Union, types.UnionType):
        return [a for a in typing.get_args(ann) if a is not type(None)]
    return None


def _is_model(ann: Any) -> bool:
    return isinstance(ann, type) and issubclass(ann, BaseModel)


def _walk_loc(root: type[BaseModel], loc: Sequence[Any]) -> tuple[KeyPath, Any, Any]:
    """Pydantic's ``loc`` -> (key path without union tags, annotation, FieldInfo) at its end."""
    ann: Any = root
    info = None
    path: list[str | int] = []
    for n, item in enumerate(loc):
        members = _union_members(ann)
        while members is not None and len(members) == 1:
            ann = members[0]
            members = _union_members(ann)
        if members is not None:  # a tag naming the union member that failed
            if n < len(loc) - 1:  # keep the whole union when describing the key itself
                ann = next((m for m in members if getattr(m, "__name__", None) == item), ann)
            continue
        path.append(item)
        origin, args = typing.get_origin(ann), typing.get_args(ann)
        if _is_model(ann) and item in ann.model_fields:
            info = ann.model_fields[item]
            ann = info.annotation
            continue
        info = None
        if origin in (list, tuple) and args:
            ann = (
                args[item]
                if origin is tuple and isinstance(item, int) and item < len(args)
                else args[0]
            )
        elif origin is dict and len(args) == 2:
            ann = args[1]
        else:
            ann = None
    return tuple(path), ann, info


def _describe(ann: Any, info: Any = None) -> str:
    """A short human name for an annotation plus its numeric constraints."""
    if ann is None or ann is Any:
        name = "any value"
    elif ann is type(None):
        name = "null"
    elif typing.get_origin(ann) is Literal:
        name = " | ".join(repr(a) for a in typing.get_args(ann))
    elif (members := _union_members(ann)) is not None:
        name = " | ".join(_describe(m) for m in members)
        if type(None) in typing.get_args(ann):
            name += " | null"
    elif typing.get_origin(ann) is Annotated:
        inner, *extra = typing.get_args(ann)
        return _describe(inner, next((e for e in extra if hasattr(e, "metadata")), info))
    elif typing.get_origin(ann) is list:
        name = f"list of {_describe(typing.get_args(ann)[0])}"
    elif typing.get_origin(ann) is tuple:
        name = "[" + ", ".join(_describe(a) for a in typing.get_args(ann)) + "]"
    elif typing.get_origin(ann) is dict:
        name = f"mapping of {' to '.join(_describe(a) for a in typing.get_args(ann))}"
    elif _is_model(ann):
        name = "mapping"
    else:
        name = getattr(ann, "__name__", str(ann))
    constraints = []
    for meta in getattr(info, "metadata", ()):
        for attr, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if getattr(meta, attr, None) is not None:
                constraints.append(f"{symbol} {getattr(meta, attr)}")
        if getattr(meta, "min_length", None):
            constraints.append(f"min length {meta.min_length}")
    return ", ".join([name, *constraints])


def _pydantic_issues(
    exc: ValidationError,
    root: type[BaseModel],
    prefix: KeyPath,
    source_of: Any,
    extra_top_level: Sequence[str] = (),
) -> list[ConfigIssue]:
    """Map pydantic's errors to issues, one per key path (union members merged).

    ``extra_top_level`` names keys valid at the root besides the model's fields
    (offered in did-you-mean suggestions).
    """
    grouped: dict[KeyPath, tuple[Any, Any, list[dict[str, Any]]]] = {}
    for err in exc.errors():
        rel, ann, info = _walk_loc(root, err["loc"])
        grouped.setdefault(rel, (ann, info, []))[2].append(err)
    issues = []
    for rel, (ann, info, errs) in grouped.items():
        path = (*prefix, *rel)
        first = errs[0]
        if first["type"] == "extra_forbidden":
            parent, parent_ann, _ = _walk_loc(root, first["loc"][:-1])
            fields = list(parent_ann.model_fields) if _is_model(parent_ann) else []
            if not parent:
                fields.extend(extra_top_level)
            name = rel[-1]
            where = _key((*prefix, *parent)) or "the run"
            issues.append(
                ConfigIssue(
                    source_of(path),
                    _key(path),
                    first["input"],
                    f"a key of {where}: {', '.join(fields)}",
                    f"unknown key {name!r}{_did_you_mean(name, fields)}",
                )
            )
        elif first["type"] == "missing":
            issues.append(
                ConfigIssue(
                    source_of(path), _key(path), MISSING, _describe(ann, info), _MISSING_KEY
                )
            )
        else:
            msgs = list(dict.fromkeys(e["msg"].removeprefix("Value error, ") for e in errs))
            lead = "Input should be "
            message = " or ".join(
                [
                    msgs[0],
                    *(m.removeprefix(lead) if msgs[0].startswith(lead) else m for m in msgs[1:]),
                ]
            )
            issues.append(
                ConfigIssue(
                    source_of(path),
                    _key(path),
                    first.get("input", MISSING),
                    _describe(ann, info),
                    message,
                )
            )
    return issues
