"""Sharing a model: its owner grants another user `reader` or `writer`, or takes the grant back.
State changes only through the jobs topic, as cancels do: a message with attribute action=grant,
signed like every message there (authentication.py: the `token` attribute, and `on_behalf_of` for a
trusted delegate such as the web app).

    attributes: {"action": "grant", "token": IDENTITY_TOKEN}
    data:       {"model": NAME, "grantee": OWNER_KEY, "role": "reader" | "writer" | null}

`role` null revokes; `grantee` is the owner key of the user's e-mail (domain/identity.py). The
requester is whom the token proves, never what the message says: a `requested_by` (attribute or data
field) is accepted only when it is that requester's owner key. Refusals are logged and acknowledged.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from zygarde.domain.errors import MessageError
from zygarde.domain.identity import IdentityError, is_owner_key, owner_key
from zygarde.domain.messages import GrantAccess, GrantAnswered, Message
from zygarde.domain.raw_doc import safe_text
from zygarde.domain.registry import is_model_name
from zygarde.service_layer import model_access
from zygarde.service_layer.authentication import Refused, message_sender
from zygarde.service_layer.deps import Deps, log

ACTION = "grant"
FIELDS = ("model", "grantee", "role")


@dataclass(frozen=True)
class GrantOutcome:
    applied: bool  # the model's grants now say what was asked
    changed: bool  # this request changed them (False for a repeat, or a refusal)
    reason: str  # one sentence: what changed, or why nothing did


def grant_request(model: str, grantee: str, role: str | None) -> tuple[bytes, dict[str, str]]:
    """The message (data, attributes) asking for a grant (role None: a revocation), to be published
    signed by its requester."""
    data = {"model": model, "grantee": grantee, "role": role}
    return json.dumps(data).encode(), {"action": ACTION}


def grantee_key(typed: str) -> tuple[str, str | None]:
    """The owner key of a grantee as a user typed it (their e-mail), and why it names no user (or None)."""
    try:
        return owner_key(typed.strip()), None
    except IdentityError as exc:
        return "", f"grantee: {exc}"


def request_problem(model: object, grantee: object, role: object) -> str | None:
    """Why a grant request is malformed, naming the field, or None."""
    if not is_model_name(model):
        return "model: not a model name (1-63 lower-case letters, digits, '_' or '-', starting with a letter)"
    if not is_owner_key(grantee):
        return "grantee: must be the owner key of a user's e-mail (zygarde.domain.identity.owner_key)"
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


def grant(cmd: GrantAccess, deps: Deps) -> list[Message]:
    """The handler of GrantAccess: the model's name once applied (GrantAnswered)."""
    return [GrantAnswered(grant_message(cmd, deps))]


def grant_message(msg, deps: Deps) -> str | None:
    """The handler of an action=grant message (see the module's note): the model's name once applied.
    A message that cannot be read raises MessageError (logged and acknowledged by the edge); one whose
    sender is not proven, or that claims another requester, is refused and logged; anything else is
    applied or refused by grant_access."""
    try:
        data = json.loads(msg.data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise MessageError(f"a grant message needs data {{{', '.join(repr(f) for f in FIELDS)}}} as a JSON object "
                           "and the identity token of the model's owner")
    model = data.get("model")
    try:
        sender = message_sender(msg.attributes, msg.publish_time, deps.verifier, deps.settings.trusted_delegates,
                                deps.clock())
    except Refused as exc:
        log.warning("model access refused model=%s message_id=%s sender=unverified: %s", safe_text(model, 80),
                    msg.message_id, exc)
        return None
    claimed = [v for v in (msg.attributes.get("requested_by"), data.get("requested_by")) if v is not None]
    if any(v != sender.key for v in claimed):
        log.warning("model access refused model=%s message_id=%s sender=%s: requested_by %s is not who signed "
                    "the message", safe_text(model, 80), msg.message_id, sender.describe(),
                    safe_text(json.dumps(claimed), 200))
        return None
    outcome = grant_access(deps, sender.key, model, data.get("grantee"), data.get("role"))
    return model if outcome.applied else None
