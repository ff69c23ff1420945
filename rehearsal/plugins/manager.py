"""Load plugins: the built-ins (`rehearsal_plugins`) and the `rehearsal` entry-point group.

A plugin is a module (or any object) with `@hookimpl` functions named after the hooks in
hookspecs.py. Two ways in, same hooks:

- built-ins: module names listed in `rehearsal_plugins.BUILTIN_MODULES` (plugins/__init__.py);
- third-party packages: an entry point in the `rehearsal` group, e.g. in pyproject.toml

      [project.entry-points.rehearsal]
      my_steps = "my_package.rehearsal_plugin"

A plugin that fails to import, fails validation, or raises while registering is reported
(`reports()`, `rehearsal plugins`) and skipped: it never takes the app down. Each plugin's
hook is called on its own, so one raising does not hide what the others provide.
`registry(kind)` returns what the healthy plugins registered, by name; when two plugins
register the same name the first loaded keeps it (built-ins load first) and the clash is
reported on the later one.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import threading
from dataclasses import dataclass, field

import pluggy

from . import hookspecs

log = logging.getLogger(__name__)

BUILTIN_PACKAGE = "rehearsal_plugins"
ENTRY_POINT_GROUP = "rehearsal"

# kind -> hook name. A kind is what `registry(kind)` looks up.
KINDS = {
    "curation_steps": "register_curation_steps",
    "dataset_exporters": "register_dataset_exporters",
    "training_strategies": "register_training_strategies",
    "model_families": "register_model_families",
    "exporters": "register_exporters",
    "marker_sources": "register_marker_sources",
}


@dataclass
class PluginReport:
    """What `rehearsal plugins` shows for one plugin."""

    name: str
    version: str = ""
    origin: str = ""                 # "built-in" or "entry point <distribution>"
    module: str = ""
    provides: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None         # failed to load: nothing it provides is used
    problems: list[str] = field(default_factory=list)   # a hook raised, a name clashed, a run failed

    @property
    def ok(self) -> bool:
        return self.error is None


_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_reports: dict[str, PluginReport] = {}
_registries: dict[str, dict[str, object]] = {}
_providers: dict[str, dict[str, str]] = {}


def _builtin_modules() -> list[str]:
    try:
        pkg = importlib.import_module(BUILTIN_PACKAGE)
    except Exception as exc:  # a broken install of the built-ins is reported, not fatal
        _reports[BUILTIN_PACKAGE] = PluginReport(BUILTIN_PACKAGE, origin="built-in",
                                                 error=f"{type(exc).__name__}: {exc}")
        return []
    names = list(getattr(pkg, "BUILTIN_MODULES", []))
    # accept "x" as well as "rehearsal_plugins.x"
    return [n if n.startswith(BUILTIN_PACKAGE + ".") else f"{BUILTIN_PACKAGE}.{n}" for n in names]


def get_plugin_manager() -> pluggy.PluginManager:
    with _lock:
        if _pm is None:
            load_plugins()
        return _pm


def load_plugins() -> pluggy.PluginManager:
    """(Re)load every plugin from scratch; clears what was registered before."""
    global _pm
    with _lock:
        pm = pluggy.PluginManager("rehearsal")
        pm.add_hookspecs(hookspecs)
        _reports.clear()
        _registries.clear()
        _providers.clear()
        from rehearsal import __version__

        for modname in _builtin_modules():
            _try_register(pm, modname, lambda m=modname: importlib.import_module(m),
                          version=__version__, origin="built-in", module=modname)
        importlib.invalidate_caches()
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.value == BUILTIN_PACKAGE:
                continue  # rehearsal's own entry point: the built-ins, loaded above module by module
            dist = getattr(ep, "dist", None)
            _try_register(pm, ep.name, ep.load, version=dist.version if dist else "",
                          origin=f"entry point ({dist.name})" if dist else "entry point", module=ep.value)
        _pm = pm
        return pm


def reset() -> None:
    """Forget loaded plugins; the next use loads them again (tests, or after installing one)."""
    global _pm
    with _lock:
        _pm = None
        _reports.clear()
        _registries.clear()
        _providers.clear()


def _try_register(pm, name: str, load, *, version: str, origin: str, module: str) -> None:
    report = PluginReport(name=name, version=version, origin=origin, module=module)
    if name in _reports:
        report.error = f"another plugin is already named {name!r} ({_reports[name].module})"
        _reports[f"{name} ({module})"] = report
        return
    _reports[name] = report
    try:
        plugin = load()
        pm.register(plugin, name=name)   # pluggy checks hook names and arguments here
    except BaseException as exc:  # import errors, syntax errors, SystemExit in a module body: report, skip
        if isinstance(exc, KeyboardInterrupt):
            raise
        report.error = f"{type(exc).__name__}: {exc}"
        log.warning("plugin %s failed to load: %s", name, report.error)
        return
    if not report.version:
        report.version = str(getattr(plugin, "__version__", ""))


def registry(kind: str) -> dict[str, object]:
    """Everything registered for `kind` (a key of KINDS), by name, from plugins that work."""
    if kind not in KINDS:
        raise KeyError(f"unknown plugin kind {kind!r}: one of {', '.join(KINDS)}")
    with _lock:
        if kind in _registries:
            return dict(_registries[kind])
        pm = get_plugin_manager()
        hook_name = KINDS[kind]
        found: dict[str, object] = {}
        providers: dict[str, str] = {}
        for pname, plugin in pm.list_name_plugin():
            impl = getattr(plugin, hook_name, None)
            if impl is None or not getattr(impl, "rehearsal_impl", None):
                continue
            report = _reports.setdefault(pname, PluginReport(name=pname))
            staged: dict[str, object] = {}

            def register(name: str, obj: object, _staged=staged) -> None:
                if not isinstance(name, str) or not name.strip():
                    raise ValueError(f"a registered name must be non-empty text, got {name!r}")
                if name in _staged:
                    raise ValueError(f"registers {name!r} twice")
                _staged[name] = obj

            try:
                impl(register=register)
            except Exception as exc:
                report.problems.append(f"{hook_name} raised {type(exc).__name__}: {exc}")
                log.warning("plugin %s: %s", pname, report.problems[-1])
                continue
            kept = []
            for name, obj in staged.items():
                if name in found:
                    report.problems.append(f"{kind} {name!r} is already provided by {providers[name]}; ignored")
                    continue
                found[name] = obj
                providers[name] = pname
                kept.append(name)
            report.provides[kind] = sorted(kept)
        _registries[kind] = found
        _providers[kind] = providers
        return dict(found)


def provider(kind: str, name: str) -> str | None:
    """The plugin that registered `name` for `kind` (for error messages and lineage)."""
    registry(kind)
    return _providers.get(kind, {}).get(name)


def report_problem(plugin: str | None, message: str) -> None:
    """Record a problem found while using something a plugin provides (shown by `rehearsal plugins`)."""
    if not plugin:
        return
    with _lock:
        get_plugin_manager()
        report = _reports.setdefault(plugin, PluginReport(name=plugin))
        if message not in report.problems:
            report.problems.append(message)


def add_plugin_commands(cli) -> None:
    """Let plugins add click commands (register_commands); one that raises is reported."""
    pm = get_plugin_manager()
    for pname, plugin in pm.list_name_plugin():
        impl = getattr(plugin, "register_commands", None)
        if impl is None or not getattr(impl, "rehearsal_impl", None):
            continue
        try:
            impl(cli=cli)
        except Exception as exc:
            report_problem(pname, f"register_commands raised {type(exc).__name__}: {exc}")


def reports() -> list[PluginReport]:
    """Every plugin found, loaded or not, with what it provides and what went wrong."""
    get_plugin_manager()
    for kind in KINDS:
        registry(kind)
    with _lock:
        return sorted(_reports.values(), key=lambda r: (r.origin != "built-in", r.name))
