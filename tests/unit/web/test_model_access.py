"""The web app's model pages through the Flask test client: a model's page lists every version,
whoever's job registered it; someone else's model is a 404 on every route, as jobs are; its owner
shares it by publishing grant requests (CSRF-protected forms); odd model names are 404s, never 500s."""
from __future__ import annotations

import json
import re

import pytest

from tests.unit.identities import DELEGATE
from tests.unit.web.conftest import BUCKET, add_job, csrf_token, sign_in
from zygarde.adapters.auth import token_email
from zygarde.service_layer import edge
from zygarde.service_layer.edge import PubSubMessage

ROUTES = ["/models/{}", "/models/{}/compare?a=1&b=2", "/models/{}/1/package.zip"]
POSTS = ["/models/{}/predict", "/models/{}/grants"]


@pytest.fixture
def shared(deps):
    """ana's model ana-job: version 1 from her job, version 2 from a job of bob's, a writer of it."""
    add_job(deps.repo, "ana", "ana-job")
    deps.repo.set_model_grant("ana-job", "bob", "writer", "ana")
    add_job(deps.repo, "bob", "bob-job")
    deps.repo.register_model_version("ana-job", "bob-job", {
        "trial_id": "t009", "algorithm": "gbt_classifier", "params": {"maxDepth": 3}, "metric": "areaUnderROC",
        "validation_metrics": {"areaUnderROC": 0.97}, "test_metrics": {"areaUnderROC": 0.96},
        "package_uri": f"gs://{BUCKET}/models/ana-job/bob-job/"}, "bob")
    return "ana-job"


def versions_on(page: str) -> list[str]:
    table = re.search(r'id="versions".*?</table>', page, re.S).group(0)
    return re.findall(r"<tr><td>(\d+)</td>", table)


def test_the_model_page_lists_every_version_whoever_registered_it(ana, bob, shared):
    page = ana.get(f"/models/{shared}").get_data(as_text=True)
    assert versions_on(page) == ["1", "2"]
    assert "gbt_classifier" in page and "0.9700" in page and "<td>bob</td>" in page
    assert 'href="/jobs/bob-job"' not in page  # bob's job itself stays his
    assert versions_on(bob.get(f"/models/{shared}").get_data(as_text=True)) == ["1", "2"]
    assert ana.get(f"/models/{shared}/compare?a=1&b=2").status_code == 200
    assert "ana-job" in ana.get("/models").get_data(as_text=True) and "ana-job" in bob.get("/models").get_data(
        as_text=True)


def test_someone_elses_model_is_a_404_on_every_route(app, shared):
    carol = sign_in(app.test_client(), "carol")
    token = csrf_token(carol, "/models")
    for route in ROUTES:
        assert carol.get(route.format(shared)).status_code == 404, route
    for route in POSTS:
        resp = carol.post(route.format(shared), data={"csrf_token": token, "ref": "1", "body": "[]",
                                                      "grantee": "carol", "role": "writer"})
        assert resp.status_code == 404, route
    assert "ana-job" not in carol.get("/models").get_data(as_text=True)


def test_the_owner_shares_the_model_by_publishing_and_sees_who_may_use_it(ana, bob, deps, shared):
    page = ana.get(f"/models/{shared}").get_data(as_text=True)
    assert re.search(r'<table id="grants">.*<td>bob</td><td>writer</td>', page, re.S)
    assert 'id="grant-form"' in page and 'name="csrf_token"' in re.search(r'id="grant-form".*?</form>', page,
                                                                          re.S).group(0)
    assert 'id="grant-form"' not in bob.get(f"/models/{shared}").get_data(as_text=True)  # a writer cannot share
    token = csrf_token(ana, f"/models/{shared}")
    assert ana.post(f"/models/{shared}/grants", data={"grantee": "Carol", "role": "reader"}).status_code == 400
    assert deps.publisher.messages == []  # without its CSRF token, nothing is published
    resp = ana.post(f"/models/{shared}/grants", data={"csrf_token": token, "grantee": "Carol", "role": "reader"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/models/{shared}#access")
    [(topic, data, attributes)] = deps.publisher.messages
    assert (topic, json.loads(data)) == ("jobs", {"model": shared, "grantee": "carol", "role": "reader"})
    assert (attributes["action"], attributes["on_behalf_of"], token_email(attributes["token"])) == (
        "grant", "ana", DELEGATE)  # the app's own token, naming the signed-in user it acts for
    edge.submit_job(PubSubMessage(data, attributes, "g1"), deps)  # what the submit_job function does with it
    carol = sign_in(deps_client(ana), "carol")
    assert versions_on(carol.get(f"/models/{shared}").get_data(as_text=True)) == ["1", "2"]
    ana.post(f"/models/{shared}/grants", data={"csrf_token": token, "grantee": "carol", "role": ""})  # Remove
    edge.submit_job(PubSubMessage(*deps.publisher.messages[-1][1:], "g2"), deps)
    assert carol.get(f"/models/{shared}").status_code == 404


def deps_client(signed_in_client):
    return signed_in_client.application.test_client()


def test_only_the_owner_may_post_grants_and_bad_grants_are_refused_next_to_the_form(ana, bob, deps, shared):
    token = csrf_token(bob, f"/models/{shared}")
    assert bob.post(f"/models/{shared}/grants", data={"csrf_token": token, "grantee": "bob",
                                                      "role": "reader"}).status_code == 403
    token = csrf_token(ana, f"/models/{shared}")
    for form, why in (({"grantee": "x" * 300, "role": "reader"}, "grantee: the identity is too long"),
                      ({"grantee": "  ", "role": "reader"}, "grantee: type the user&#39;s e-mail"),
                      ({"grantee": "bob", "role": "admin"}, "role: must be reader or writer"),
                      ({"grantee": "ana", "role": "reader"}, "grantee: you own this model")):
        resp = ana.post(f"/models/{shared}/grants", data={"csrf_token": token, **form}, follow_redirects=True)
        assert resp.status_code == 200 and why in resp.get_data(as_text=True), why
    assert deps.publisher.messages == []


ODD = ["..", "__x__", "x" * 2000, "Ana-Job", "modèle", "a%2Fb", "a%2F..", "%2e%2e", "a b", "-x", "%00", "a\\b",
       "ana-job%0A", "__proto__", "...", "%E2%80%AE"]


@pytest.mark.parametrize("name", ODD)
def test_odd_model_names_are_404s_on_every_models_route(ana, shared, name):
    token = csrf_token(ana, "/models")
    for route in ROUTES:
        resp = ana.get(route.format(name))
        assert resp.status_code == 404, (route, resp.status_code)
        assert "Traceback" not in resp.get_data(as_text=True)
    for route in POSTS:
        resp = ana.post(route.format(name), data={"csrf_token": token, "ref": "1", "body": "[]", "grantee": "bob",
                                                  "role": "reader"})
        assert resp.status_code == 404, (route, resp.status_code)


def test_an_administrator_sees_every_model_and_shares_none(app, shared):
    root = sign_in(app.test_client(), "root")  # settings.admins
    assert versions_on(root.get(f"/models/{shared}").get_data(as_text=True)) == ["1", "2"]
    listing = root.get("/models").get_data(as_text=True)
    assert re.search(r">ana-job</a></td><td>ana</td>\s*<td>administrator</td>", listing), listing
    token = csrf_token(root, f"/models/{shared}")
    assert root.post(f"/models/{shared}/grants", data={"csrf_token": token, "grantee": "root",
                                                       "role": "writer"}).status_code == 403
