"""Composing a run config from YAML files, includes and dotlist overrides, tracking
which file set each key."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from uio.core.config_errors import COMMAND_LINE, MISSING, ConfigIssue, KeyPath, _display, _key

# --------------------------------------------------------------------------- composition


@dataclass
class _Layer:
    """Composed data plus, for each leaf, the file that set it last."""

    data: dict[str, Any] = field(default_factory=dict)
    sources: dict[KeyPath, str] = field(default_factory=dict)


def _leaves(value: Any, prefix: KeyPath = ()) -> Iterator[KeyPath]:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _leaves(v, (*prefix, k))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from _leaves(v, (*prefix, i))
    else:
        yield prefix


def _under(path: KeyPath, prefix: KeyPath) -> bool:
    return path[: len(prefix)] == prefix


class _Index(dict):
    """Stands in for a list along an override's path (``data.sources[0].weight``)."""


def _merge(dst: _Layer, src: _Layer, prefix: KeyPath = ()) -> None:
    """OmegaConf's merge (mappings merge, anything else replaces), tracking sources."""
    node_dst = _get(dst.data, prefix)
    node_src = _get(src.data, prefix)
    for key, value in node_src.items():
        path = (*prefix, key)
        old = node_dst[key] if isinstance(node_dst, list) else node_dst.get(key)
        if (isinstance(value, _Index) and isinstance(old, list)) or (
            isinstance(value, dict) and not isinstance(value, _Index) and isinstance(old, dict)
        ):
            _merge(dst, src, path)
            continue
        node_dst[key] = copy.deepcopy(value)
        _set_sources(dst, path, {p: f for p, f in src.sources.items() if _under(p, path)})


def _set_sources(layer: _Layer, path: KeyPath, new: dict[KeyPath, str]) -> None:
    for old in [p for p in layer.sources if _under(p, path)]:
        del layer.sources[old]
    layer.sources.update(new)


def _get(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _fill(dst: dict, defaults: dict, layer: _Layer | None, prefix: KeyPath, label: str) -> None:
    """Set keys of ``defaults`` that ``dst`` lacks, recursing into mappings."""
    for key, value in defaults.items():
        path = (*prefix, key)
        if key not in dst:
            dst[key] = copy.deepcopy(value)
            if layer is not None:
                layer.sources.update({p: label for p in _leaves(value, path)})
        elif isinstance(value, dict) and isinstance(dst[key], dict):
            _fill(dst[key], value, layer, path, label)


class _Composer:
    """Reads files with their includes and applies overrides, gathering issues."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        self.stack: list[Path] = []
        self.failed_files = 0

    def issue(
        self,
        file: str,
        key: str = "",
        given: Any = MISSING,
        expected: str = "",
        message: str = "",
        line: int | None = None,
    ) -> None:
        self.issues.append(ConfigIssue(file, key, given, expected, message, line))

    def load(self, path: Path, parent: str, include_key: str) -> _Layer | None:
        """The composed content of one file and its includes (``None``: unreadable)."""
        raw = self._read(path, parent, include_key)
        if raw is None:
            self.failed_files += 1
            return None
        shown = _display(path)
        layer = _Layer()
        self.stack.append(path)
        for key, target, where in self._includes(raw.pop("include", None), shown):
            sub = self.load((path.parent / target).resolve(), shown, where)
            if sub is not None:
                _merge(layer, _nest(sub, key))
        self.stack.pop()
        _merge(layer, _Layer(raw, {p: shown for p in _leaves(raw)}))
        return layer

    def _read(self, path: Path, parent: str, include_key: str) -> dict[str, Any] | None:
        shown = _display(path)
        if path in self.stack:
            chain = " -> ".join(_display(p) for p in self.stack[self.stack.index(path) :])
            self.issue(
                parent, include_key, shown, "no include cycle", f"include cycle: {chain} -> {shown}"
            )
            return None
        if not path.is_file():
            self.issue(
                parent, include_key, shown, "an existing YAML file", f"file not found: {shown}"
            )
            return None
        try:
            raw = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            where = f" (line {line}, column {mark.column + 1})" if mark is not None else ""
            self.issue(
                shown,
                "",
                MISSING,
                "valid YAML",
                f"YAML syntax error: {exc.problem or exc.context}{where}",
                line,
            )
            return None
        except Exception as exc:  # noqa: BLE001 - unreadable file, bad encoding, ...
            self.issue(shown, "", MISSING, "a readable YAML file", f"cannot read: {exc}")
            return None
        if not isinstance(raw, dict):
            self.issue(
                shown,
                "",
                type(raw).__name__,
                "a mapping of keys at the top level",
                "a config file must be a mapping",
            )
            return None
        return raw

    def _includes(self, spec: Any, shown: str) -> Iterator[tuple[str, str, str]]:
        """``(key to nest under or "", file, key path of the entry)`` per included file."""
        if spec is None:
            return
        entries: list[tuple[str, Any, str]]
        if isinstance(spec, dict):
            entries = [(str(k), v, f"include.{k}") for k, v in spec.items()]
        else:
            entries = [("", spec, "include")]
        for key, value, where in entries:
            if isinstance(value, str):
                yield key, value, where
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                for i, v in enumerate(value):
                    yield key, v, f"{where}[{i}]"
            else:
                self.issue(
                    shown,
                    where,
                    value,
                    "a file path, a list of paths, or a mapping KEY: path",
                    "bad include entry",
                )

    def override(self, layer: _Layer, item: str) -> None:
        if "=" not in item:
            self.issue(COMMAND_LINE, item, item, "KEY=VALUE", "override without '='")
            return
        key, raw = item.split("=", 1)
        parts = key.strip().replace("[", ".").replace("]", "").split(".")
        if not all(parts):
            self.issue(
                COMMAND_LINE,
                key,
                item,
                "a dotted key such as train.max_steps",
                "malformed override key",
            )
            return
        try:
            value = OmegaConf.to_container(OmegaConf.from_dotlist([f"v={raw}"]), resolve=False)["v"]
        except Exception as exc:  # noqa: BLE001 - OmegaConf raises several YAML errors
            self.issue(COMMAND_LINE, key, raw, "a YAML value", f"cannot parse the value: {exc}")
            return
        error = _assign(layer, parts, value)
        if error:
            self.issue(COMMAND_LINE, key, value, "an existing list index", error)


def _nest(layer: _Layer, key: str) -> _Layer:
    """The layer placed under the dotted ``key`` (unchanged for "")."""
    if not key:
        return layer
    prefix = tuple(key.split("."))
    data: Any = layer.data
    for part in reversed(prefix):
        data = {part: data}
    return _Layer(data, {(*prefix, *p): f for p, f in layer.sources.items()})


def _assign(layer: _Layer, parts: list[str], value: Any) -> str | None:
    """Set one dotlist override; an existing dotted key (``a.b``) is matched as one name."""
    node: Any = layer.data
    path: list[str | int] = []
    i = 0
    while True:
        part: str | int = parts[i]
        if isinstance(node, dict):
            rest = ".".join(parts[i:])
            if i < len(parts) - 1 and rest in node:
                part, i = rest, len(parts) - 1
        elif isinstance(node, list):
            if not parts[i].isdigit():
                return f"{_key(tuple(path))} is a list: index it with a number, not {parts[i]!r}"
            part = int(parts[i])
            if part >= len(node):
                return f"{_key(tuple(path))} has {len(node)} item(s); index {part} is out of range"
        path.append(part)
        if i == len(parts) - 1:
            break
        child = node[part] if isinstance(node, list) else node.get(part)
        if not isinstance(child, dict | list):
            child = node[part] = {}
            _set_sources(layer, tuple(path), {})
        node, i = child, i + 1
    _merge(
        layer, _Layer(_wrap(path, value), {p: COMMAND_LINE for p in _leaves(value, tuple(path))})
    )
    return None


def _wrap(path: list[str | int], value: Any) -> Any:
    """A skeleton that :func:`_merge` can walk down to ``path`` (list items included)."""
    for part in reversed(path):
        value = _Index({part: value}) if isinstance(part, int) else {part: value}
    return value
