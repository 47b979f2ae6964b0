"""Settings from a YAML file, then ``REGISTRY_*`` environment variables, then command-line flags.

The environment works as Distribution's ``configuration/parser.go`` does: variables are applied in
lexical order (so ``REGISTRY_STORAGE`` comes before ``REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY``),
each names a dotted key (``REGISTRY_HTTP_ADDR`` is ``http.addr``) and its value is read as YAML.
Two differences: segments are matched greedily against field names, so names with underscores work
(``REGISTRY_DATA_DIR`` is ``data_dir``), and a variable that names no setting is an error, not a
warning, because a misspelt override silently ignored is a misconfigured registry.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import types
from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import ErrorDetails

from dockyard.config.model import MIN_SECRET_LENGTH, Settings
from dockyard.errors import ConfigError

ENV_PREFIX = "REGISTRY_"
CONFIG_PATH_ENV = "REGISTRY_CONFIGURATION_PATH"
"""Distribution's variable for the settings file when no path is given on the command line."""

IGNORED_ENV_VARS: tuple[str, ...] = (
    CONFIG_PATH_ENV,
    # Kubernetes service links of a Service named `registry`:
    "REGISTRY_SERVICE_HOST",
    "REGISTRY_SERVICE_PORT*",
    "REGISTRY_PORT",
    "REGISTRY_PORT_*",
)
"""``fnmatch`` patterns of ``REGISTRY_*`` variables that are not settings and are not errors."""

SECRET_FILE = "http.secret"
COMMAND_LINE = "command line"

Key = tuple[str, ...]


def load_config(
    path: str | None, environ: Mapping[str, str], overrides: Mapping[str, Any]
) -> Settings:
    """Resolve and validate the settings; raises ``ConfigError`` naming the key and its source.

    ``overrides`` maps dotted keys (``http.addr``) to values from the command line. When no
    ``http.secret`` is configured, the one in ``<data_dir>/http.secret`` is used, created on first
    start, so every worker and every restart signs upload URLs alike.
    """
    raw: dict[str, Any] = _read_file(path) if path else {}
    origins: dict[Key, str] = {}
    unknown: list[str] = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        resolved = _resolve(Settings, name.removeprefix(ENV_PREFIX).split("_"))
        if resolved is None:
            if not any(fnmatchcase(name, pattern) for pattern in IGNORED_ENV_VARS):
                unknown.append(name)
            continue
        key, annotation = resolved
        _assign(raw, key, _env_value(name, environ[name], annotation))
        origins[key] = name
    if unknown:
        raise ConfigError("; ".join(f"{name}: names no setting" for name in unknown))
    for dotted, value in overrides.items():
        key = tuple(dotted.split("."))
        _assign(raw, key, value)
        origins[key] = COMMAND_LINE
    raw.setdefault("data_dir", str(_default_data_dir(environ)))
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        # `from None`: the ValidationError's text shows input values, secrets among them.
        raise ConfigError(_describe(exc, origins, path)) from None
    if "secret" in settings.http.model_fields_set:
        return settings
    http = settings.http.model_copy(update={"secret": _persistent_secret(settings.data_dir)})
    return settings.model_copy(update={"http": http})


def _read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            data = yaml.safe_load(file)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        raise ConfigError(f"{where}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of settings")
    return data


def _resolve(model: type[BaseModel], segments: list[str]) -> tuple[Key, Any] | None:
    """The dotted key and field type that upper-case ``segments`` name, longest field first."""
    for count in range(len(segments), 0, -1):
        name = "_".join(segments[:count]).lower()
        field = model.model_fields.get(name)
        if field is None or name.upper() != "_".join(segments[:count]):
            continue
        rest = segments[count:]
        if not rest:
            return (name,), field.annotation
        nested = _model_of(field.annotation)
        if nested is not None and (found := _resolve(nested, rest)) is not None:
            return (name, *found[0]), found[1]
    return None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _env_value(name: str, value: str, annotation: Any) -> Any:
    """Text fields take the value verbatim (a secret ``0x1f`` must not become 31), others YAML."""
    if _is_text(annotation):
        return value
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        raise ConfigError(f"{name}: not a YAML value") from None


def _is_text(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_text(arg) for arg in get_args(annotation) if arg is not type(None))
    if get_origin(annotation) is Literal:
        return all(isinstance(arg, str) for arg in get_args(annotation))
    return annotation in (str, SecretStr, Path)


def _assign(raw: dict[str, Any], key: Key, value: Any) -> None:
    node = raw
    for part in key[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            # A scalar where a mapping is needed: `storage: inmemory` is Distribution's shorthand
            # for `storage: {inmemory: {}}`; anything else gives way to the override.
            child = {child: {}} if isinstance(child, str) else {}
            node[part] = child
        node = child
    node[key[-1]] = value


def _default_data_dir(environ: Mapping[str, str]) -> Path:
    xdg = environ.get("XDG_DATA_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg, "dockyard")
    return Path(environ.get("HOME") or Path.home(), ".local", "share", "dockyard")


def _describe(exc: ValidationError, origins: Mapping[Key, str], path: str | None) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        key = tuple(str(part) for part in error["loc"])
        source = _source(key, origins) or path
        where = ".".join(key) or "settings"
        problems.append(
            f"{source}: {where}: {_message(error)}" if source else f"{where}: {_message(error)}"
        )
    return "; ".join(problems)


def _source(key: Key, origins: Mapping[Key, str]) -> str | None:
    """The variable or flag that set ``key``, one of its parents, or one of its children."""
    for length in range(len(key), 0, -1):
        if key[:length] in origins:
            return origins[key[:length]]
    return next((source for k, source in origins.items() if k[: len(key)] == key), None)


def _message(error: ErrorDetails) -> str:
    """Short messages; never the input, except for choices (a secret is never a choice)."""
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        return "unknown key" + _known_keys(error["loc"][:-1])
    if kind == "greater_than_equal":
        return f"must be ≥ {ctx['ge']}"
    if kind == "literal_error":
        return f"must be {ctx['expected']} (got {error['input']!r})"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "must be an integer"
    if kind in ("bool_parsing", "bool_type"):
        return "must be true or false"
    if kind == "string_type":
        return "must be a string (quote it in YAML)"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a mapping"
    if kind == "value_error":
        return str(ctx["error"])
    message = error["msg"]
    return message[:1].lower() + message[1:]


def _known_keys(loc: tuple[int | str, ...]) -> str:
    model: type[BaseModel] | None = Settings
    for part in loc:
        field = model.model_fields.get(str(part)) if model else None
        model = _model_of(field.annotation) if field else None
    return f" (known: {', '.join(model.model_fields)})" if model else ""


def _persistent_secret(data_dir: Path) -> SecretStr:
    path = data_dir / SECRET_FILE
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            _create_secret(path)
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"http.secret: cannot keep a generated one in {path}: {exc.strerror}"
        ) from None
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{path}: holds no usable secret; remove it to generate a new one")
    return SecretStr(value)


def _create_secret(path: Path) -> None:
    """Write to a 0600 temporary file, then link: readers never see half a secret, and of two
    first starts at once, one wins and both use its secret."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
