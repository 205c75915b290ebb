"""The configuration file: which engine, storage and executor to use, and how to configure them.

Found, in this order: the file named by ``$DFLOW_CONFIG``; else, walking up from the working
directory, the nearest directory holding a ``dflow.toml`` or a ``pyproject.toml`` with a
``[tool.dflow]`` table (``dflow.toml`` wins within one directory)::

    engine = "local"            # or "argo", "debug", "default", a third-party engine
    storage = "minio"           # optional
    executor = "slurm"          # optional default executor for script steps

    [engines.local]             # typed by the plugin's EngineRecord.config_type
    workdir = "runs"

    [config]                    # any dflow.config key
    debug_failfast = true

Plugin sections are structured into the plugin's attrs ``config_type`` by one strict cattrs
converter; a wrong key or type is reported with the file and the key path.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import threading
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .config import ConfigError, apply_file_values, config, s3_config

if TYPE_CHECKING:
    import cattrs

SETTINGS_FILE = "dflow.toml"
#: plugin kind -> table holding its per-plugin sections
SECTIONS: dict[str, str] = {
    "engine": "engines",
    "storage": "storages",
    "executor": "executors",
    "renderer": "renderers",
}


class SettingsError(ConfigError):
    """The configuration file is missing, malformed, or has a wrong key or value."""


def _strict(kind: type, *also: type):
    accepted = (kind, *also)

    def structure(value: object, _: type) -> object:
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {kind.__name__}, got bool")
        if not isinstance(value, accepted):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return kind(value)

    return structure


def _is_command_union(type_: object) -> bool:
    # pydflow's ``command: list[str] | str`` arguments (optionally ``| None``)
    args = set(typing.get_args(type_))
    return str in args and list[str] in args and args <= {str, list[str], type(None)}


def _structure_command(value: object, type_: object) -> object:
    if value is None and type(None) in typing.get_args(type_):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise TypeError(f"expected a string or a list of strings, got {type(value).__name__} {value!r}")


@functools.cache
def converter() -> cattrs.Converter:
    """The one converter for configuration: extra keys are errors, and so are coercions.

    Built on first use: a run with no configuration file structures nothing (plugins'
    defaults are their ``config_type()``), and importing cattrs costs every ``submit()``
    about 13 ms."""
    import cattrs

    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(str, _strict(str))
    conv.register_structure_hook(int, _strict(int))
    conv.register_structure_hook(float, _strict(float, int))
    conv.register_structure_hook(bool, _strict(bool))
    conv.register_structure_hook_func(_is_command_union, _structure_command)
    return conv


_EXTRA = "\0extra\0"


def _format(exc: BaseException, type_: type | None) -> str:
    import cattrs
    from cattrs.errors import ForbiddenExtraKeysError

    if isinstance(exc, ForbiddenExtraKeysError):
        known = [f.name for f in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        return _EXTRA + json.dumps([sorted(exc.extra_fields), known])
    if isinstance(exc, KeyError):
        return "required key missing"
    if isinstance(exc, TypeError | ValueError) and str(exc):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


def _messages(exc: Exception, path: str) -> list[str]:
    import cattrs

    lines = []
    for message in cattrs.transform_error(exc, path=path, format_exception=_format):
        text, _, where = message.rpartition(" @ ")
        where = where.lstrip(".$")
        if text.startswith(_EXTRA):
            extra, known = json.loads(text[len(_EXTRA) :])
            for key in extra:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                lines.append(f"{where + '.' if where else ''}{key}: extra key{hint}")
        else:
            lines.append(f"{where or '(top level)'}: {text}")
    return lines


def structure(data: object, cls: type, *, source: str, path: str = "") -> Any:
    """Structure ``data`` into ``cls``; errors name ``source`` (a file) and the key path."""
    if data == {} and attrs.has(cls):
        try:
            return cls()  # what the converter would call: every field has its default
        except Exception:  # a required field or a bad default: the converter says which
            pass
    try:
        return converter().structure(data, cls)
    except Exception as exc:
        lines = _messages(exc, path)
        raise SettingsError("\n".join(f"{source}: {line}" for line in lines)) from None


@attrs.frozen
class _FileModel:
    engine: str | None = None
    storage: str | None = None
    executor: str | None = None
    engines: dict[str, dict[str, Any]] = attrs.Factory(dict)
    storages: dict[str, dict[str, Any]] = attrs.Factory(dict)
    executors: dict[str, dict[str, Any]] = attrs.Factory(dict)
    renderers: dict[str, dict[str, Any]] = attrs.Factory(dict)
    config: dict[str, Any] = attrs.Factory(dict)
    s3_config: dict[str, Any] = attrs.Factory(dict)
    cache: dict[str, Any] = attrs.Factory(dict)  # checked by dflow.cache.settings


@attrs.frozen
class Settings:
    """A loaded configuration file (or the empty settings when there is none)."""

    path: Path | None = None
    prefix: str = ""  # "tool.dflow." inside pyproject.toml
    engine: str | None = None
    storage: str | None = None
    executor: str | None = None
    sections: dict[str, dict[str, dict[str, Any]]] = attrs.Factory(dict)
    config: dict[str, Any] = attrs.Factory(dict)
    s3_config: dict[str, Any] = attrs.Factory(dict)
    cache: dict[str, Any] = attrs.Factory(dict)  # the [cache] table (dflow.cache.settings)

    @property
    def source(self) -> str:
        return str(self.path) if self.path is not None else "(no configuration file)"

    def section(self, kind: str, record: Any) -> tuple[str, dict[str, Any]] | None:
        """(section name, raw table) configuring ``record`` of ``kind``, if the file has one."""
        from .plugins.manager import CORE_ALIASES

        table = self.sections.get(kind, {})
        names = [record.name, *record.aliases]
        names += [a for a, target in CORE_ALIASES.get(kind, {}).items() if target == record.name]
        found = [n for n in dict.fromkeys(names) if n in table]
        if len(found) > 1:
            keys = " and ".join(f"[{self.prefix}{SECTIONS[kind]}.{n}]" for n in found)
            raise SettingsError(
                f"{self.source}: {keys} both configure {kind} '{record.name}'; keep one"
            )
        return (found[0], table[found[0]]) if found else None

    def plugin_config(self, kind: str, name: str, record: Any = None) -> Any:
        """The plugin's ``config_type`` instance built from its section (defaults if absent).

        None when the plugin declares no config type. ``record`` defaults to the installed
        record called ``name`` (so a missing plugin raises PluginNotFoundError).
        """
        if record is None:
            from .plugins.manager import get_plugin_manager

            record = get_plugin_manager().get(kind, name)
        found = self.section(kind, record)
        where = f"{self.prefix}{SECTIONS[kind]}.{found[0] if found else record.name}"
        if record.config_type is None:
            if found and found[1]:
                raise SettingsError(
                    f"{self.source}: {where}: {kind} '{record.name}' takes no configuration; "
                    "remove the section"
                )
            return None
        return structure(
            found[1] if found else {}, record.config_type, source=self.source, path=where
        )

    def check_sections(self, pm: Any) -> None:
        """Raise :class:`SettingsError` for a plugin section no plugin answers to.

        A section named after a first-party plugin that is not installed here is accepted
        (one file may serve machines with different plugins); any other name is a typo.
        """
        from .plugins.manager import CORE_ALIASES, FIRST_PARTY, PluginError

        problems = []
        for kind, table in self.sections.items():
            if not table:
                continue
            try:
                records = pm.records(kind)
            except PluginError:
                continue  # a broken installation is reported by the lookup that needs it
            known = {n for rec in records.values() for n in (rec.name, *rec.aliases)}
            known |= set(CORE_ALIASES.get(kind, {})) | set(FIRST_PARTY.get(kind, {}))
            for name in table:
                if name in known:
                    continue
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = (
                    f" (did you mean [{self.prefix}{SECTIONS[kind]}.{close[0]}]?)" if close else ""
                )
                installed = ", ".join(sorted(records)) or "none"
                problems.append(
                    f"{self.source}: [{self.prefix}{SECTIONS[kind]}.{name}]: no {kind} named "
                    f"'{name}'{hint}; installed {kind}s: {installed}"
                )
        if problems:
            raise SettingsError("\n".join(problems))

    def apply_config(self) -> None:
        """Apply ``[config]``/``[s3_config]`` to :data:`dflow.config` (below env and code)."""
        apply_file_values(config, self.config, "config")
        apply_file_values(s3_config, self.s3_config, "s3_config")


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: invalid TOML: {exc}") from None


_lock = threading.Lock()
_cache: dict[tuple[Path, int], Settings] = {}
_pyproject_cache: dict[tuple[Path, int], bool] = {}


def _has_tool_dflow(path: Path) -> bool:
    key = (path, path.stat().st_mtime_ns)
    if key not in _pyproject_cache:
        try:
            data = _read_toml(path)
        except SettingsError:
            return False  # a broken pyproject.toml is not ours to report
        _pyproject_cache[key] = isinstance(data.get("tool", {}).get("dflow"), dict)
    return _pyproject_cache[key]


def find_settings_file(start_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The configuration file that applies in ``start_dir`` (default: the working directory)."""
    named = os.environ.get("DFLOW_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise SettingsError(
                f"DFLOW_CONFIG={named}: no such file; point it at a dflow.toml or unset it"
            )
        return path.resolve()
    # os.path rather than pathlib: this runs on every backend lookup
    directory = os.path.abspath(start_dir if start_dir is not None else os.getcwd())
    while True:
        candidate = os.path.join(directory, SETTINGS_FILE)
        if os.path.isfile(candidate):
            return Path(candidate)
        pyproject = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(pyproject) and _has_tool_dflow(Path(pyproject)):
            return Path(pyproject)
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _parse(path: Path) -> Settings:
    data = _read_toml(path)
    prefix = ""
    if path.name == "pyproject.toml":
        prefix = "tool.dflow."
        data = data.get("tool", {}).get("dflow", {})
    for kind in ("engine", "storage", "executor"):
        value = data.get(kind)
        if isinstance(value, dict):  # [storage.minio] where [storages.minio] was meant
            names = ", ".join(f"[{prefix}{SECTIONS[kind]}.{n}]" for n in value) or "a table"
            raise SettingsError(
                f'{path}: {prefix}{kind} must be a {kind} name ({kind} = "..."); plugin '
                f"settings go in [{prefix}{SECTIONS[kind]}.<name>] tables: rename it to {names}"
            )
    model = structure(data, _FileModel, source=str(path), path=prefix.rstrip("."))
    problems = []
    for table, known in (("config", config), ("s3_config", s3_config)):
        for key in getattr(model, table):
            if key not in known:
                close = difflib.get_close_matches(key, list(known), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                problems.append(f"{path}: {prefix}{table}.{key}: unknown {table} key{hint}")
    if problems:
        raise SettingsError("\n".join(problems))
    return Settings(
        path=path,
        prefix=prefix,
        engine=model.engine,
        storage=model.storage,
        executor=model.executor,
        sections={kind: getattr(model, table) for kind, table in SECTIONS.items()},
        config=model.config,
        s3_config=model.s3_config,
        cache=model.cache,
    )


def load_settings(start_dir: str | os.PathLike[str] | None = None) -> Settings:
    """The settings in effect (cached per file and modification time)."""
    path = find_settings_file(start_dir)
    if path is None:
        return Settings()
    key = (path, path.stat().st_mtime_ns)
    with _lock:
        if key not in _cache:
            _cache[key] = _parse(path)
        return _cache[key]
