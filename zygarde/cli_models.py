"""`zygarde models grant|revoke`: the owner of a model shares it, by publishing a grant request to the
jobs topic (service_layer.grants), signed with their identity token as `zygarde cancel` publishes a cancel."""
from __future__ import annotations

import sys

import click


def _publish(name: str, user: str, role: str | None) -> None:
    from zygarde.cli_common import Signer, console, local_deps
    from zygarde.domain.raw_doc import safe_text
    from zygarde.service_layer import grants, model_access

    deps = local_deps()
    signer = Signer(deps)
    me = signer.identity
    grantee, problem = grants.grantee_key(user)
    doc = model_access.readable_model(deps.repo, name, me.key)
    problem = problem or grants.request_problem(name, grantee, role)
    if problem is None and model_access.role_of(doc, me.key) != model_access.OWNER:
        problem = f"model: only the owner of model {safe_text(name, 100)} may share it, and you are {me.email}"
    if problem is None and grantee == me.key:
        problem = "grantee: you own this model; name another user"
    if problem is not None:
        console.print(f"cannot change who may use {safe_text(name, 100)}: {problem}", markup=False, highlight=False,
                      style="red")
        sys.exit(1)
    data, attributes = grants.grant_request(name, grantee, role)
    message_id = signer.publish(data, **attributes)
    shown = model_access.member_identity(grantee)
    what = f"{shown} becomes a {role} of {name}" if role else f"{shown} loses access to {name}"
    console.print(f"requested by {me.email}: {what} (message {message_id})", markup=False, highlight=False)


@click.command("grant")
@click.argument("name")
@click.argument("user")
@click.option("--role", type=click.Choice(["reader", "writer"]), required=True,
              help="reader: see its versions and score with it; writer: also register versions from one's jobs.")
def models_grant(name: str, user: str, role: str) -> None:
    """Share model NAME with USER (their e-mail) as a reader or a writer. Only its owner may: you, as your
    identity token proves."""
    _publish(name, user, role)


@click.command("revoke")
@click.argument("name")
@click.argument("user")
def models_revoke(name: str, user: str) -> None:
    """Take back USER's (their e-mail's) access to model NAME. Only its owner may: you, as your identity
    token proves."""
    _publish(name, user, None)
