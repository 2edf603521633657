"""Model references: a version number or an alias (as MLflow's registry: "production" -> 3)."""
from __future__ import annotations

import re

ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LATEST = "latest"  # always the newest registered version; cannot be set


def check_alias(alias: str) -> str | None:
    """Why `alias` cannot name an alias, or None."""
    if not isinstance(alias, str) or not ALIAS.fullmatch(alias):
        return "an alias is 1-63 lower-case letters, digits, '_' or '-', starting with a letter"
    if alias == LATEST:
        return f"{LATEST!r} always means the newest version and cannot be moved"
    return None


def parse_ref(ref: str) -> tuple[str, int | str]:
    """("version", n) for "3", ("alias", name) otherwise."""
    if ref.isdigit() and int(ref) > 0:
        return "version", int(ref)
    return "alias", ref


def split_target(target: str) -> tuple[str, str]:
    """CLI form: NAME@alias, NAME:version or NAME (the newest version) -> (name, ref)."""
    if "@" in target:
        name, _, ref = target.partition("@")
    elif ":" in target:
        name, _, ref = target.partition(":")
    else:
        name, ref = target, LATEST
    return name, ref or LATEST


# A model's name: what `name` in a job spec may be, and every job id is one too. Nothing else is a model
# name, so a path or reference holding anything else names no model (a 404), never a store lookup.
MODEL_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
MODEL_NAME = re.compile(MODEL_NAME_PATTERN)


def is_model_name(name: object) -> bool:
    return isinstance(name, str) and MODEL_NAME.fullmatch(name) is not None
