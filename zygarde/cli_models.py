"""`zygarde models grant|revoke`: the owner of a model shares it, by publishing a grant request to the
jobs topic (service_layer.grants), as `zygarde cancel` publishes a cancel."""
from __future__ import annotations

import sys

import click

OWNER_OPTION = click.option("--owner", help="Who asks: the model's owner (default: $ZYGARDE_OWNER, else your "
                                            "user name).")


def _publish(name: str, user: str, role: str | None, owner: str | None) -> None:
    from zygarde.cli_common import console, local_deps
    from zygarde.cli_extras import requester
    from zygarde.domain.raw_doc import safe_text
    from zygarde.service_layer import grants, model_access
    from zygarde.web.identity import owner_name

    who, grantee = requester(owner), owner_name(user)
    deps = local_deps()
    doc = model_access.readable_model(deps.repo, name, who)
    problem = grants.request_problem(name, grantee, role)
    if problem is None and model_access.role_of(doc, who) != model_access.OWNER:
        problem = f"model: only the owner of model {safe_text(name, 100)} may share it (--owner names who asks)"
    if problem is None and grantee == who:
        problem = "grantee: you own this model; name another user"
    if problem is not None:
        console.print(f"cannot change who may use {safe_text(name, 100)}: {problem}", markup=False, highlight=False,
                      style="red")
        sys.exit(1)
    message_id = grants.publish_grant(deps.publisher, who, name, grantee, role)
    what = f"{grantee} becomes a {role} of {name}" if role else f"{grantee} loses access to {name}"
    console.print(f"requested: {what} (message {message_id})", markup=False, highlight=False)


@click.command("grant")
@click.argument("name")
@click.argument("user")
@click.option("--role", type=click.Choice(["reader", "writer"]), required=True,
              help="reader: see its versions and score with it; writer: also register versions from one's jobs.")
@OWNER_OPTION
def models_grant(name: str, user: str, role: str, owner: str | None) -> None:
    """Share model NAME with USER as a reader or a writer (only its owner may)."""
    _publish(name, user, role, owner)


@click.command("revoke")
@click.argument("name")
@click.argument("user")
@OWNER_OPTION
def models_revoke(name: str, user: str, owner: str | None) -> None:
    """Take back USER's access to model NAME (only its owner may)."""
    _publish(name, user, None, owner)
