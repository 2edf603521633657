"""terraform/predict.tf, checked offline like the rest (tests/unit/test_terraform.py's evaluator):
the predict HTTP function, its own service account reading only models/ and Firestore, no public
invoker."""
from __future__ import annotations

import ast

import hcl2
import pytest

from tests.unit.test_terraform import ROOT, TF, TFVARS, Module, R


@pytest.fixture(scope="module")
def tf() -> Module:
    return Module(TF, TFVARS)


def test_predict_is_an_http_function_of_the_shared_archive(tf):
    addr = "google_cloudfunctions2_function.predict"
    assert set(tf.instances(addr)) == set(R["http_functions"]) == {"predict"}
    [build] = tf.arg(addr, "predict", "build_config")
    assert build["entry_point"] == R["http_functions"]["predict"]["entry_point"]
    assert build["source"][0]["storage_source"][0]["object"] == tf.ev(tf.locals["function_source_object"])
    [service] = tf.arg(addr, "predict", "service_config")
    assert service["service_account_email"].startswith("google_service_account.predict.")
    assert set(service["environment_variables"]) == {R["env"][k] for k in (
        "project", "region", "bucket", "token_certs_url", "token_issuers", "token_audiences", "trusted_delegates",
        "predict_warm")} | {
        R["web_env"]["admins"]}  # administrators may score every model
    defs = {n.name for n in ast.parse((ROOT / "functions" / "main.py").read_text()).body
            if isinstance(n, ast.FunctionDef)}
    assert "predict" in defs
    assert not tf.resources[addr].get("event_trigger")  # HTTP, not a CloudEvent function


def test_predict_account_reads_only_models_and_firestore(tf):
    grants = {}
    for addr in tf.resources:
        if addr.split(".")[0].endswith(("_iam_member", "_iam_binding")):
            for key in tf.instances(addr):
                member = tf.arg(addr, key, "member")
                if "predict" in str(member) and "invoker" not in tf.arg(addr, key, "role"):
                    grants[addr] = tf.arg(addr, key, "role")
    assert grants == {"google_project_iam_member.predict_firestore": "roles/datastore.viewer",
                      "google_storage_bucket_iam_member.predict_models": "roles/storage.objectViewer"}
    [condition] = tf.arg("google_storage_bucket_iam_member.predict_models", None, "condition")
    assert condition["expression"].endswith(f'/objects/{R["bucket_prefixes"]["models"]}")')


def test_no_public_invoker(tf):
    for addr in tf.resources:
        if addr.split(".")[0].endswith(("_iam_member", "_iam_binding")) and addr != _INVOKERS:
            for key in tf.instances(addr):
                assert tf.arg(addr, key, "member") not in ("allUsers", "allAuthenticatedUsers"), addr
    assert "var.predict_invokers" in str(tf.resources[_INVOKERS]["for_each"])
    assert tf.instances(_INVOKERS) == {}  # nobody by default
    public = Module(TF, {**TFVARS, "predict_invokers": ["group:scorers@example.com"]})
    assert public.arg(_INVOKERS, "group:scorers@example.com", "role") == "roles/run.invoker"
    [variable] = [body for p in TF.glob("*.tf") for v in hcl2.loads(p.read_text()).get("variable", [])
                  for name, body in v.items() if name.strip('"') == "predict_invokers"]
    assert variable["default"] == []
    assert "allUsers" in variable["validation"][0]["condition"]


_INVOKERS = "google_cloud_run_v2_service_iam_member.predict_invokers"


def test_the_web_app_calls_the_predict_service_as_an_invoker_and_reads_only_models(tf):
    """The model page's "Try a prediction" form: ZYGARDE_PREDICT_URL is the function's URL, and the web
    app's own account (not a public grant) may invoke it; manifests are read under models/ only."""
    env = tf.ev(tf.locals["web_env"])
    assert "google_cloudfunctions2_function.predict" in str(env[R["env"]["predict_url"]])
    addr = "google_cloud_run_v2_service_iam_member.web_invokes_predict"
    assert tf.arg(addr, None, "role") == "roles/run.invoker"
    assert "google_service_account.web." in str(tf.arg(addr, None, "member"))
    assert "google_cloudfunctions2_function.predict" in str(tf.arg(addr, None, "name"))
    reads = "google_storage_bucket_iam_member.web_reads_models"
    assert tf.arg(reads, None, "role") == "roles/storage.objectViewer"
    [condition] = tf.arg(reads, None, "condition")
    assert condition["expression"] == (
        f'resource.name.startsWith("projects/_/buckets/{tf.ev(tf.locals["bucket_name"])}/objects/'
        f'{R["bucket_prefixes"]["models"]}") || api.getAttribute("storage.googleapis.com/objectListPrefix", "")'
        f'.startsWith("{R["bucket_prefixes"]["models"]}")')


def test_a_warm_model_and_a_minimum_instance_are_options_off_by_default(tf):
    """Cold starts (README, online prediction): by default the service scales to zero and loads models on
    demand; predict_min_instances keeps instances up, predict_warm_models names what each loads at start."""
    addr = 'google_cloudfunctions2_function.predict'
    [config] = tf.arg(addr, "predict", "service_config")
    assert config["min_instance_count"] == 0 and config["environment_variables"][R["env"]["predict_warm"]] == ""
    warm = Module(TF, {**TFVARS, "predict_min_instances": 1, "predict_warm_models": ["churn@production", "fraud"]})
    [config] = warm.arg(addr, "predict", "service_config")
    assert config["min_instance_count"] == 1
    assert config["environment_variables"][R["env"]["predict_warm"]] == "churn@production,fraud"
