"""Settings from the environment, parsed by pydantic-settings in one place.

The typed settings objects (config.Settings, web.settings.WebSettings) stay frozen dataclasses: their
fields and defaults are the shape. `parse` builds a pydantic-settings model from a dataclass's fields
(each read from its resources.json variable, `env`, with the dataclass's default unless `fields`
gives another) and turns a bad value into one ConfigError sentence naming the variable. config.py
imports this lazily: the Spark batches ship config.py, not pydantic.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from functools import cache
from typing import Annotated, Any, get_type_hints

from pydantic import BeforeValidator, Field, StringConstraints, ValidationError, create_model
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from zygarde.domain.errors import ConfigError

REQUIRED = Annotated[str, StringConstraints(min_length=1)]  # set and not empty ("missing" otherwise)


def split_csv(text: Any) -> tuple[str, ...]:
    """'a, b,,c' -> ('a', 'b', 'c'); None or '' -> ()."""
    if isinstance(text, (tuple, list, set, frozenset)):
        return tuple(text)
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def csv_of(convert: Callable[[tuple[str, ...]], Any] = tuple) -> Any:
    """A comma-separated variable (never JSON-decoded), converted by `convert` from its parts."""
    return Annotated[Any, NoDecode, BeforeValidator(lambda text: convert(split_csv(text)))]


def empty_is(default: Any, kind: Any = str) -> Any:
    """A variable whose empty value means `default` (as if unset)."""
    return Annotated[kind, BeforeValidator(lambda text: default if text in ("", None) else text)]


def flag() -> Any:
    """A yes/no variable: 1, true or yes (any case) is True; anything else, empty included, False."""
    return Annotated[bool, BeforeValidator(lambda text: str(text).strip().lower() in ("1", "true", "yes"))]


class _EnvSettings(BaseSettings):
    """Reads only what `parse` hands it: the variables of one mapping, by exact (case-sensitive) name."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return (init_settings,)


class _MappingEnv(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (os.environ or a test's dict)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


@cache
def _model(shape: type, env: tuple[tuple[str, str], ...], fields: tuple[tuple[str, Any], ...]) -> type:
    hints, overrides = get_type_hints(shape), dict(fields)
    declared = {f.name: f for f in dataclasses.fields(shape)}
    spec = {}
    for name, variable in env:
        kind, default = overrides.get(name, (hints[name], dataclasses.MISSING))
        if default is dataclasses.MISSING:
            default = declared[name].default
        if default is dataclasses.MISSING and declared[name].default_factory is not dataclasses.MISSING:
            default = declared[name].default_factory()
        spec[name] = (kind, Field(... if default is dataclasses.MISSING else default, validation_alias=variable))
    return create_model(f"{shape.__name__}FromEnv", __base__=_EnvSettings, **spec)


def parse(shape: type, env: dict[str, str], environ: Mapping[str, str] | None = None,
          fields: dict[str, tuple[Any, Any]] | None = None) -> dict[str, Any]:
    """The values of `shape`'s fields named in `env` ({field: variable}) read from `environ` (default
    os.environ): {field: value}. `fields` overrides a field's {field: (type, default)}; a default of
    dataclasses.MISSING keeps the dataclass's. A missing or bad value raises ConfigError."""
    model = _model(shape, tuple(env.items()), tuple((fields or {}).items()))
    environ = os.environ if environ is None else environ
    try:
        return dict(model(**_MappingEnv(model, environ)()))
    except ValidationError as exc:
        raise ConfigError(_sentence(exc, environ)) from None


def _sentence(exc: ValidationError, environ: Mapping[str, str]) -> str:
    """One sentence for every error: the missing (or empty required) variables, then each bad one with its value."""
    missing, bad = [], []
    for error in exc.errors(include_url=False):
        variable = str(error["loc"][0]) if error["loc"] else "?"
        if error["type"] == "missing" or (error["type"] == "string_too_short" and error["input"] == ""):
            missing.append(variable)
        else:
            reason = error["msg"][0].lower() + error["msg"][1:]
            bad.append(f"{variable}={environ.get(variable, '')!r} is not valid ({reason})")
    parts = ([f"missing environment variables: {', '.join(missing)}"] if missing else []) + bad
    return "; ".join(parts)
