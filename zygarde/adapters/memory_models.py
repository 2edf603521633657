"""The in-memory fake of the model registry half of JobRepository (see firestore_models for the real
one): the same documents, the same ownership rule, and Firestore's refusals of odd document ids."""
from __future__ import annotations

import copy
import re
from collections import defaultdict

from zygarde.domain.errors import ModelNameTaken
from zygarde.service_layer.model_access import first_job_id, may_write, taken_reason

_RESERVED_ID = re.compile(r"^__.*__$", re.S)


def _firestore_id(doc_id: str) -> None:
    """Raise ValueError for what Firestore refuses as a document id, as its client and server do: a
    slash, '.' or '..', __reserved__, empty, more than 1,500 bytes. The fake fails where the store
    would, so tests show the service layer never sends such ids."""
    if not isinstance(doc_id, str) or not doc_id or "/" in doc_id or doc_id in (".", "..") \
            or _RESERVED_ID.match(doc_id) or len(doc_id.encode("utf-8", "surrogatepass")) > 1500:
        raise ValueError(f"Firestore refuses the document id {str(doc_id)[:80]!r}")


class MemoryModelRegistry:
    """Mixed into MemoryJobRepository (which provides self._lock, self.jobs and self.writes)."""

    def _init_models(self) -> None:
        self.models: dict[str, dict[int, dict]] = defaultdict(dict)  # name -> version -> record
        self.model_docs: dict[str, dict] = {}  # name -> the model document (owner, grants, members...)
        self.aliases: dict[str, dict[str, dict]] = {}

    def register_model_version(self, name: str, job_id: str, record: dict, owner: str) -> int:
        _firestore_id(name)
        with self._lock:
            doc = self.model_docs.get(name)
            if doc is not None and job_id in doc["jobs"]:
                return doc["jobs"][job_id]
            if doc is None:
                doc = {"name": name, "owner": owner, "grants": {}, "members": [owner],
                       "created_at": record.get("registered_at"), "next_version": 1, "jobs": {}}
            else:
                doc = {**doc, "owner": doc.get("owner") or self._first_owner(doc)}
                if not may_write(doc, owner):
                    raise ModelNameTaken(taken_reason(name))
            number = doc["next_version"]
            self.models[name][number] = {**record, "job_id": job_id, "version": number, "registered_by": owner}
            self.model_docs[name] = {**doc, "next_version": number + 1, "jobs": {**doc["jobs"], job_id: number},
                                     "latest_version": number}
            self.writes += 2
            return number

    def _first_owner(self, doc: dict) -> str | None:
        job = self.jobs.get(first_job_id(doc) or "")
        return job.owner if job else None

    def model(self, name: str) -> dict | None:
        _firestore_id(name)
        doc = self.model_docs.get(name)
        return copy.deepcopy(doc) if doc is not None else None

    def set_model_grant(self, name: str, grantee: str, role: str | None, owner: str) -> bool:
        _firestore_id(name)
        with self._lock:
            doc = self.model_docs.get(name)
            if doc is None:
                raise KeyError(f"no model {name!r}")
            grants = dict(doc.get("grants") or {})
            if grants.get(grantee) == role or (role is None and grantee not in grants):
                return False
            if role is None:
                del grants[grantee]
            else:
                grants[grantee] = role
            current = doc.get("owner") or self._first_owner(doc) or owner
            self.model_docs[name] = {**doc, "owner": current, "grants": grants,
                                     "members": sorted({current, *grants})}
            self.writes += 1
            return True

    def list_models(self, member: str | None = None) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(d) for d in self.model_docs.values()
                    if member is None or member in (d.get("members") or [])]

    def model_versions(self, name: str) -> list[dict]:
        _firestore_id(name)
        return [self.models[name][n] for n in sorted(self.models.get(name, {}))]

    def model_version(self, name: str, version: int) -> dict | None:
        _firestore_id(name)
        return self.models.get(name, {}).get(version)

    def set_alias(self, name: str, alias: str, version: int, moved_by: str, moved_at: str) -> dict:
        _firestore_id(name)
        _firestore_id(alias)
        with self._lock:
            if version not in self.models.get(name, {}):
                raise KeyError(f"model {name!r} has no version {version}")
            previous = self.aliases.setdefault(name, {}).get(alias, {})
            move = {"version": version, "moved_by": moved_by, "moved_at": moved_at}
            record = {"alias": alias, **move, "history": [*previous.get("history", []), move]}
            self.aliases[name][alias] = record
            self.writes += 1
            return record

    def model_aliases(self, name: str) -> dict[str, dict]:
        _firestore_id(name)
        return dict(self.aliases.get(name, {}))
