"""Guarded discovery of plugins from the entry-point group ``uio.modalities``.

Each entry point is loaded and called on its own, inside a try/except, with a
plugin manager of its own: a plugin that fails to import, declares an unknown
hook, speaks another API version, returns a bad spec or claims a name another
plugin claims is recorded as *broken* with the reason, and the rest load
(pluggy's bare ``load_setuptools_entrypoints`` lets one bad plugin break every
command, as in simonw/llm issue #1280).

Environment:
    ``UIO_STRICT_PLUGINS=1``  a broken plugin is an error.
    ``UIO_LOAD_PLUGINS=a,b``  load only the entry points with these names.
    ``UIO_DISABLE_PLUGIN_AUTOLOAD=1``  discover no entry points at all; only
        plugins registered in-process load (isolated tests; the name follows
        pytest's ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from uio.plugins import hookspecs
from uio.plugins.spec import (
    API_VERSION,
    DatasetSpec,
    ModalitySpec,
    ObjectiveSpec,
    PluginInfo,
    TaskSpec,
)

ENTRY_POINT_GROUP = "uio.modalities"

_KINDS: dict[str, tuple[str, type]] = {
    "modalities": ("uio_modalities", ModalitySpec),
    "objectives": ("uio_objectives", ObjectiveSpec),
    "tasks": ("uio_tasks", TaskSpec),
    "datasets": ("uio_datasets", DatasetSpec),
}


class PluginError(RuntimeError):
    """A plugin problem the user must fix (raised in strict mode or on lookup)."""


@dataclass
class Registry:
    """Every spec the loaded plugins provide, by name, and the plugins themselves."""

    modalities: dict[str, ModalitySpec] = field(default_factory=dict)
    objectives: dict[str, ObjectiveSpec] = field(default_factory=dict)
    tasks: dict[str, TaskSpec] = field(default_factory=dict)
    datasets: dict[str, DatasetSpec] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)

    @property
    def broken(self) -> list[PluginInfo]:
        """Plugins that did not load, each with its reason."""
        return [p for p in self.plugins if p.status != "ok"]

    def modality(self, name: str) -> ModalitySpec:
        """The spec of one modality, or a clear error listing what is available."""
        return _lookup(self.modalities, name, "modality", self)

    def task(self, name: str) -> TaskSpec:
        """The spec of one task, or a clear error listing what is available."""
        return _lookup(self.tasks, name, "task", self)

    def dataset(self, name: str) -> DatasetSpec:
        """The spec of one dataset builder, or a clear error listing what is available."""
        return _lookup(self.datasets, name, "dataset", self)

    def objective(self, name: str) -> ObjectiveSpec:
        """The spec of one objective, or a clear error listing what is available."""
        return _lookup(self.objectives, name, "objective", self)

    def objectives_for(self, modality: str) -> list[ObjectiveSpec]:
        """Objectives whose target may be of the given modality."""
        return [o for o in self.objectives.values() if modality in o.target_modalities]

    def plugin(self, name: str) -> PluginInfo:
        """One plugin's info by entry-point name."""
        for p in self.plugins:
            if p.name == name:
                return p
        known = ", ".join(sorted(p.name for p in self.plugins)) or "none"
        raise PluginError(f"no plugin named {name!r} (installed: {known})")


def _lookup(table: dict[str, Any], name: str, kind: str, registry: Registry) -> Any:
    if name in table:
        return table[name]
    known = ", ".join(sorted(table)) or "none"
    hint = ""
    broken = [p for p in registry.broken if name in (p.modalities + p.tasks + p.datasets)]
    if broken:
        hint = f"; plugin {broken[0].name!r} would provide it but is broken: {broken[0].error}"
    elif registry.broken:
        hint = f" ({len(registry.broken)} broken plugin(s): see `uio plugins list`)"
    raise PluginError(f"unknown {kind} {name!r}; available: {known}{hint}")


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _selected_names() -> set[str] | None:
    raw = os.environ.get("UIO_LOAD_PLUGINS", "").strip()
    if not raw:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


def _discover_entry_points() -> list[EntryPoint]:
    seen: set[tuple[str, str]] = set()
    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        key = (ep.name, ep.value)
        if key not in seen:  # the same distribution on sys.path twice
            seen.add(key)
            found.append(ep)
    return found


def _describe(info: PluginInfo) -> str:
    where = f"entry point {info.entry_point!r}" if info.entry_point else "registered in-process"
    dist = f"distribution {info.distribution!r}" if info.distribution else "no distribution"
    return f"plugin {info.name!r} ({dist}, {where})"


def _collect(plugin: Any, info: PluginInfo) -> dict[str, list[Any]]:
    """Call every hook of one plugin with a plugin manager of its own."""
    undecorated = [
        name
        for name in dir(plugin)
        if name.startswith("uio_")
        and callable(getattr(plugin, name, None))
        and not hasattr(getattr(plugin, name), f"{hookspecs.PROJECT_NAME}_impl")
    ]
    if undecorated:
        raise PluginError(
            f"function(s) {', '.join(undecorated)} lack the @hookimpl decorator, so uio would "
            "ignore them; fix: decorate them with `from uio.plugins import hookimpl`"
        )
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin, name=info.name)
    pm.check_pending()  # raises on a `uio_*` function that matches no hookspec
    results: dict[str, list[Any]] = {}
    for kind, (hook_name, spec_type) in _KINDS.items():
        items: list[Any] = []
        for returned in getattr(pm.hook, hook_name)():
            if returned is None:
                continue
            if not isinstance(returned, list | tuple):
                raise TypeError(f"hook {hook_name} must return a list, got {type(returned).__name__}")
            for item in returned:
                if not isinstance(item, spec_type):
                    raise TypeError(
                        f"hook {hook_name} returned a {type(item).__name__}; expected {spec_type.__name__}"
                    )
                items.append(item)
        results[kind] = items
    # Recorded before the checks below, so a broken plugin still says what it would provide.
    info.modalities = [s.name for s in results["modalities"]]
    info.objectives = [o.name for o in results["objectives"]] + [
        o.name for s in results["modalities"] for o in s.objectives
    ]
    info.tasks = [s.name for s in results["tasks"]]
    info.datasets = [s.name for s in results["datasets"]]
    for spec in results["modalities"]:
        if spec.api_version != API_VERSION:
            raise PluginError(
                f"modality {spec.name!r} declares api_version={spec.api_version}, but this uio "
                f"speaks plugin API version {API_VERSION}; fix: upgrade the plugin to "
                f"api_version={API_VERSION}, or install a uio release that supports version "
                f"{spec.api_version}"
            )
        results["objectives"].extend(spec.objectives)
    return results


def load_registry(
    extra_plugins: Iterable[tuple[str, Any]] = (),
    *,
    strict: bool | None = None,
    use_entry_points: bool | None = None,
) -> Registry:
    """Discover, load and validate every plugin.

    Args:
        extra_plugins: ``(name, plugin object)`` pairs registered in-process
            (tests and notebooks), after the entry points.
        strict: make a broken plugin an error; defaults to ``UIO_STRICT_PLUGINS``.
        use_entry_points: discover installed plugins (off for isolated tests);
            defaults to on unless ``UIO_DISABLE_PLUGIN_AUTOLOAD`` is set.
    """
    strict = _env_flag("UIO_STRICT_PLUGINS") if strict is None else strict
    if use_entry_points is None:
        use_entry_points = not _env_flag("UIO_DISABLE_PLUGIN_AUTOLOAD")
    selected = _selected_names()
    candidates: list[tuple[PluginInfo, Any]] = []

    if use_entry_points:
        for ep in _discover_entry_points():
            if selected is not None and ep.name not in selected:
                continue
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                name=ep.name,
                distribution=dist.metadata["Name"] if dist is not None else "",
                version=dist.version if dist is not None else "",
                entry_point=f"{ep.name} = {ep.value}",
            )
            try:
                candidates.append((info, ep.load()))
            except Exception as exc:  # noqa: BLE001 - any import failure marks the plugin broken
                info.status = "broken"
                info.error = (
                    f"failed to import ({type(exc).__name__}: {exc}); fix: reinstall "
                    f"{info.distribution or 'the plugin'} with its dependencies, or uninstall it"
                )
                candidates.append((info, None))
    for name, obj in extra_plugins:
        candidates.append((PluginInfo(name=name, distribution="", version=""), obj))

    registry = Registry()
    loaded: list[tuple[PluginInfo, dict[str, list[Any]]]] = []
    for info, obj in candidates:
        registry.plugins.append(info)
        if info.status != "ok":
            continue
        try:
            results = _collect(obj, info)
        except Exception as exc:  # noqa: BLE001 - a bad plugin must not break the others
            info.status = "broken"
            reason = str(exc)
            if isinstance(exc, pluggy.PluginValidationError):
                reason = f"{exc}; fix: rename the function or remove it (known hooks: " + ", ".join(
                    h for h, _ in _KINDS.values()
                ) + ")"
            elif not isinstance(exc, PluginError):
                reason = f"{type(exc).__name__}: {exc}"
            info.error = reason
            continue
        info.modalities = [s.name for s in results["modalities"]]
        info.objectives = [s.name for s in results["objectives"]]
        info.tasks = [s.name for s in results["tasks"]]
        info.datasets = [s.name for s in results["datasets"]]
        loaded.append((info, results))

    _resolve_name_clashes(loaded)
    for info, results in loaded:
        if info.status != "ok":
            continue
        for kind in _KINDS:
            table = getattr(registry, kind)
            for spec in results[kind]:
                if kind == "modalities":
                    spec = spec.model_copy(update={"source": _describe(info)})
                table[spec.name] = spec

    if strict and registry.broken:
        lines = "\n".join(f"  - {_describe(p)}: {p.error}" for p in registry.broken)
        raise PluginError(f"broken plugins (UIO_STRICT_PLUGINS is set):\n{lines}")
    return registry


def _resolve_name_clashes(loaded: list[tuple[PluginInfo, dict[str, list[Any]]]]) -> None:
    """Two plugins claiming one name are both broken: which one wins would be arbitrary."""
    for kind in _KINDS:
        owners: dict[str, list[PluginInfo]] = {}
        for info, results in loaded:
            for name in {s.name for s in results[kind]}:
                owners.setdefault(name, []).append(info)
        singular = kind[:-1] if kind != "modalities" else "modality"
        for name, infos in owners.items():
            if len(infos) < 2:
                continue
            for info in infos:
                others = "; ".join(_describe(o) for o in infos if o is not info)
                info.status = "broken"
                info.error = (
                    f"{singular} {name!r} is also registered by {others}; fix: uninstall one of "
                    f"them, or pick one with UIO_LOAD_PLUGINS=<entry point names>"
                )


_cached: Registry | None = None
_extra: list[tuple[str, Any]] = []


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _cached
    if _cached is None:
        _cached = load_registry(_extra)
    return _cached


def register_in_process(name: str, plugin: Any) -> None:
    """Add a plugin object without an entry point (tests, notebooks); reloads the registry."""
    _extra.append((name, plugin))
    reset_registry()


def unregister_in_process(name: str) -> None:
    """Remove a plugin added by :func:`register_in_process`; reloads the registry."""
    _extra[:] = [(n, p) for n, p in _extra if n != name]
    reset_registry()


def reset_registry() -> None:
    """Forget the cached registry, so the next :func:`get_registry` discovers again."""
    global _cached
    _cached = None
