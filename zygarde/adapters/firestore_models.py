"""Registered models on Firestore: zygarde_models/{name} is the model document (owner, grants,
members, version counter, job -> version), zygarde_models/{name}/versions/{n} one document per version,
zygarde_models/{name}/aliases/{alias} one per alias. Every change is a transaction on the model's
documents."""
from __future__ import annotations

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from zygarde.adapters.firestore_support import transient as _transient
from zygarde.config import collection
from zygarde.domain.errors import ModelNameTaken
from zygarde.service_layer.model_access import first_job_id, may_write, taken_reason


class FirestoreModelRegistry:
    """The model half of FirestoreJobRepository (it provides self._db and self._job_ref)."""

    def _model(self, name: str):
        return self._db.collection(collection("models")).document(name)

    @_transient
    def register_model_version(self, name: str, job_id: str, record: dict, owner: str) -> int:
        """One transaction: the model document is created with its owner and version 1 (create-if-absent:
        a concurrent first registration makes the commit fail, and the decision is taken again against
        the document it wrote), or, for an owner or writer of an existing model, updated with the next."""
        model = self._model(name)

        @firestore.transactional
        def run(tx):
            snap = model.get(transaction=tx)
            if snap.exists:
                data = snap.to_dict()
                if job_id in (data.get("jobs") or {}):
                    return data["jobs"][job_id]
                data["owner"] = data.get("owner") or self._first_owner(tx, data)
                if not may_write(data, owner):
                    raise ModelNameTaken(taken_reason(name))
            else:
                data = {"name": name, "owner": owner, "grants": {}, "members": [owner],
                        "created_at": record.get("registered_at"), "next_version": 1, "jobs": {}}
            number = data["next_version"]
            tx.set(model.collection(collection("model_versions")).document(str(number)),
                   {**record, "job_id": job_id, "version": number, "registered_by": owner})
            new = {**data, "next_version": number + 1, "jobs": {**data["jobs"], job_id: number},
                   "latest_version": number}
            (tx.set if snap.exists else tx.create)(model, new)
            return number

        try:
            return run(self._db.transaction())
        except gexc.AlreadyExists:  # another job's first registration won the name meanwhile
            return run(self._db.transaction())

    def _first_owner(self, tx, data: dict) -> str | None:
        """The owner of the job of the model's first version, read in `tx` (a model registered before
        owners were recorded)."""
        job_id = first_job_id(data)
        snap = self._job_ref(job_id).get(transaction=tx) if job_id else None
        return (snap.to_dict() or {}).get("owner") if snap is not None and snap.exists else None

    @_transient
    def model(self, name: str) -> dict | None:
        snap = self._model(name).get()
        return snap.to_dict() if snap.exists else None

    @_transient
    def set_model_grant(self, name: str, grantee: str, role: str | None, owner: str) -> bool:
        model = self._model(name)

        @firestore.transactional
        def run(tx):
            snap = model.get(transaction=tx)
            if not snap.exists:
                raise KeyError(f"no model {name!r}")
            data = snap.to_dict()
            grants = dict(data.get("grants") or {})
            if grants.get(grantee) == role or (role is None and grantee not in grants):
                return False
            if role is None:
                del grants[grantee]
            else:
                grants[grantee] = role
            current = data.get("owner") or self._first_owner(tx, data) or owner
            tx.set(model, {**data, "owner": current, "grants": grants, "members": sorted({current, *grants})})
            return True

        return run(self._db.transaction())

    @_transient
    def list_models(self, member: str | None = None) -> list[dict]:
        query = self._db.collection(collection("models"))
        if member is not None:
            query = query.where(filter=FieldFilter("members", "array_contains", member))
        return [s.to_dict() for s in query.stream()]

    @_transient
    def model_versions(self, name: str) -> list[dict]:
        docs = self._model(name).collection(collection("model_versions")).stream()
        return sorted((d.to_dict() for d in docs), key=lambda v: v["version"])

    @_transient
    def model_version(self, name: str, version: int) -> dict | None:
        snap = self._model(name).collection(collection("model_versions")).document(str(version)).get()
        return snap.to_dict() if snap.exists else None

    @_transient
    def set_alias(self, name: str, alias: str, version: int, moved_by: str, moved_at: str) -> dict:
        model = self._model(name)
        doc = model.collection(collection("model_aliases")).document(alias)

        @firestore.transactional
        def run(tx):
            if not model.collection(collection("model_versions")).document(str(version)).get(transaction=tx).exists:
                raise KeyError(f"model {name!r} has no version {version}")
            snap = doc.get(transaction=tx)
            history = (snap.to_dict() or {}).get("history", []) if snap.exists else []
            move = {"version": version, "moved_by": moved_by, "moved_at": moved_at}
            record = {"alias": alias, **move, "history": [*history, move]}
            tx.set(doc, record)
            return record

        return run(self._db.transaction())

    @_transient
    def model_aliases(self, name: str) -> dict[str, dict]:
        return {d.id: d.to_dict() for d in self._model(name).collection(collection("model_aliases")).stream()}

