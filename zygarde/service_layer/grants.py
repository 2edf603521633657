"""Sharing a model: its owner grants another user `reader` or `writer`, or takes the grant back.
State changes only through the jobs topic, as cancels do: a message with attribute action=grant.

    attributes: {"action": "grant", "requested_by": OWNER_KEY}
    data:       {"model": NAME, "grantee": OWNER_KEY, "role": "reader" | "writer" | null, "requested_by": OWNER_KEY}

`role` null revokes. The requester is the owner key that asks (the attribute and the data field must
agree when both are given); `grant_access` takes it as a parameter, so that an entry point that
verifies the publisher's identity passes that identity instead of the message's word for it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from zygarde.domain.errors import MessageError
from zygarde.domain.raw_doc import safe_text
from zygarde.domain.registry import is_model_name
from zygarde.domain.spec import OWNER_PATTERN
from zygarde.service_layer import model_access
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.ports import EventPublisher

ACTION = "grant"
FIELDS = ("model", "grantee", "role", "requested_by")


@dataclass(frozen=True)
class GrantOutcome:
    applied: bool  # the model's grants now say what was asked
    changed: bool  # this request changed them (False for a repeat, or a refusal)
    reason: str  # one sentence: what changed, or why nothing did


def grant_request(model: str, grantee: str, role: str | None, requested_by: str) -> tuple[bytes, dict[str, str]]:
    """The message (data, attributes) asking for a grant (role None: a revocation)."""
    data = {"model": model, "grantee": grantee, "role": role, "requested_by": requested_by}
    return json.dumps(data).encode(), {"action": ACTION, "requested_by": requested_by}


def publish_grant(publisher: EventPublisher, requester: str, model: str, grantee: str, role: str | None) -> str:
    """Publish a grant request to the jobs topic; the message id."""
    data, attributes = grant_request(model, grantee, role, requester)
    return publisher.publish("jobs", data, **attributes)


def request_problem(model: object, grantee: object, role: object) -> str | None:
    """Why a grant request is malformed, naming the field, or None."""
    if not is_model_name(model):
        return "model: not a model name (1-63 lower-case letters, digits, '_' or '-', starting with a letter)"
    if not isinstance(grantee, str) or not re.fullmatch(OWNER_PATTERN.rstrip("$"), grantee):
        return "grantee: must be a user's owner name (an e-mail address or user name: letters, digits and . _ @ + -)"
    if role is not None and role not in model_access.ROLES:
        return f"role: must be {' or '.join(model_access.ROLES)}, or null to revoke"
    return None


def grant_access(deps: Deps, requester: str, model: str, grantee: str, role: str | None) -> GrantOutcome:
    """Give `grantee` `role` on `model` (None: take their grant back) when `requester` owns it.
    Idempotent; a refusal changes nothing and is logged with its reason."""
    problem = request_problem(model, grantee, role)
    doc = model_access.model_document(deps.repo, model) if problem is None else None
    if problem is None and model_access.role_of(doc, requester) != model_access.OWNER:
        problem = f"model: only the owner of model {model} may change who may use it"
    if problem is None and grantee == doc["owner"]:
        problem = "grantee: the owner's own access cannot be granted or revoked"
    if problem is not None:
        log.warning("model access refused model=%s requested_by=%s: %s", safe_text(model, 80),
                    safe_text(requester, 140), problem)
        return GrantOutcome(False, False, problem)
    try:
        changed = deps.repo.set_model_grant(model, grantee, role, doc["owner"])
    except KeyError:  # cannot happen: models are never deleted
        return GrantOutcome(False, False, f"model: there is no model {model}")
    what = f"{grantee} is now a {role} of {model}" if role else f"{grantee} no longer has access to {model}"
    log.info("model access %s model=%s grantee=%s role=%s requested_by=%s changed=%s",
             "granted" if role else "revoked", model, grantee, role, requester, changed)
    return GrantOutcome(True, changed, what)


def grant_message(msg, deps: Deps) -> str | None:
    """The handler of an action=grant message (see the module's note). A message that cannot be read
    raises MessageError (logged and acknowledged by the edge); anything else is applied or refused."""
    try:
        data = json.loads(msg.data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise MessageError(f"a grant message needs data {{{', '.join(repr(f) for f in FIELDS)}}} as a JSON object")
    given = [v for v in (msg.attributes.get("requested_by"), data.get("requested_by")) if v is not None]
    if not given or not isinstance(given[0], str) or any(v != given[0] for v in given):
        raise MessageError("a grant message names its requester once (requested_by, an attribute or a data field; "
                           "both must agree)")
    outcome = grant_access(deps, given[0], data.get("model"), data.get("grantee"), data.get("role"))
    return data.get("model") if outcome.applied else None
