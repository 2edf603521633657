"""Who may use a registered model: the one access rule of every path that reads or writes one.

A model name belongs to the owner of its first registration: the model document records `owner`
(an owner key, as jobs carry it), written atomically with version 1. The owner may grant another user
`reader` (sees its versions, scores with it online and in batches) or `writer` (also registers
versions under its name from their own jobs), in the document's `grants` {owner key: role}; its
`members` list (owner and grantees) is what listings query. Administrators read every model and
write none. Nobody else learns that a model exists: it reads as "no such model".

A model registered before owners were recorded has no `owner`: the owner of its first version's job
owns it. `model_document` fills that in when reading; the adapters apply the same rule inside the
registration and grant transactions, and write it on the document then.
"""
from __future__ import annotations

from dataclasses import dataclass

from zygarde.domain.identity import IdentityError, identity_of_key
from zygarde.domain.registry import is_model_name
from zygarde.service_layer.ports import JobRepository

OWNER, WRITER, READER = "owner", "writer", "reader"
ROLES = (READER, WRITER)  # what a grant may give


def role_of(model: dict | None, who: str | None) -> str | None:
    """"owner", "writer", "reader" or None: what `who` (an owner key) is to the model."""
    if model is None or not who:
        return None
    if model.get("owner") == who:
        return OWNER
    role = (model.get("grants") or {}).get(who)
    return role if role in ROLES else None


def member_identity(key: str) -> str:
    """The e-mail an owner key of the model's owner or grants stands for (the key itself if it is none)."""
    try:
        return identity_of_key(key)
    except IdentityError:
        return key


def may_read(model: dict | None, who: str | None, admin: bool = False) -> bool:
    """Whether `who` may see the model's versions and score with it (an administrator reads every model)."""
    return model is not None and (admin or role_of(model, who) is not None)


def may_write(model: dict | None, who: str | None) -> bool:
    """Whether a job of `who` may register a version under the model's name: a name no model holds is
    free; an existing model takes versions from its owner and its writers only."""
    return model is None or role_of(model, who) in (OWNER, WRITER)


def first_job_id(model: dict) -> str | None:
    """The job that registered the model's first version (its `jobs` map: job id -> version)."""
    jobs = model.get("jobs") or {}
    return min(jobs, key=lambda j: int(jobs[j])) if jobs else None


def taken_reason(name: str) -> str:
    """The one sentence a job hears when it names someone else's model."""
    return (f"the model {name!r} belongs to another user: choose another name, or ask its owner for write "
            f"access (zygarde models grant {name} YOU --role writer)")


def model_document(repo: JobRepository, name: str) -> dict | None:
    """The model document, None for no model or for a string that cannot name one (never a store lookup);
    the owner of a model registered before owners were recorded is filled in (see the module's note)."""
    if not is_model_name(name):
        return None
    doc = repo.model(name)
    if doc is None:
        return None
    if not doc.get("owner"):
        job_id = first_job_id(doc)
        job = repo.get_job(job_id) if job_id else None
        doc = {**doc, "owner": job.owner if job else None}
    return doc


def readable_model(repo: JobRepository, name: str, who: str | None, admin: bool = False) -> dict | None:
    """The model document when `who` may read model `name`; None otherwise (absent and forbidden look alike)."""
    doc = model_document(repo, name)
    return doc if may_read(doc, who, admin) else None


def registration_problem(repo: JobRepository, name: str, owner: str) -> str | None:
    """Why a job of `owner` may not register under model name `name`, or None."""
    return None if may_write(model_document(repo, name), owner) else taken_reason(name)


@dataclass(frozen=True)
class ModelSummary:
    """One line of a user's model list."""

    name: str
    owner: str | None
    role: str | None  # the viewer's: owner, writer, reader (None: an administrator's view)
    latest_version: int | None
    grants: dict


def visible_models(repo: JobRepository, who: str | None, admin: bool = False,
                   legacy_names: tuple[str, ...] = ()) -> list[ModelSummary]:
    """The models `who` may read, by name: those listing them as a member, and `legacy_names` (models
    named by their jobs, for models registered before members were recorded); every model for an
    administrator."""
    docs = {d["name"]: d for d in repo.list_models(None if admin else who) if is_model_name(d.get("name"))}
    for name in legacy_names:
        if name not in docs and (doc := model_document(repo, name)) is not None:
            docs[name] = doc
    out = []
    for name in sorted(docs):
        doc = docs[name] if docs[name].get("owner") else model_document(repo, name)
        if may_read(doc, who, admin):
            latest = doc.get("latest_version") or (int(doc["next_version"]) - 1 if doc.get("next_version") else None)
            out.append(ModelSummary(name, doc.get("owner"), role_of(doc, who), latest, dict(doc.get("grants") or {})))
    return out
