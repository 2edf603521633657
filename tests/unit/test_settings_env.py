"""Settings and WebSettings from the environment (pydantic-settings, zygarde/settings_env.py): every
variable by its resources.json name with its documented default, and a bad or missing value is one
sentence naming the variable: at the boundary, from the CLI too, never a trace."""
from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from zygarde.config import (
    GOOGLE_CERTS_URL,
    GOOGLE_ISSUERS,
    Settings,
    env_name,
    resources,
)
from zygarde.domain.errors import ConfigError
from zygarde.web.settings import WebSettings, price_per_dcu_hour, web_env_name

BASE = {env_name("project"): "acme-ml", env_name("bucket"): "acme-zygarde"}
WEB = {env_name("bucket"): "acme-zygarde", web_env_name("iap_audience"): "/projects/123/global/backendServices/9"}


def test_unset_variables_take_the_documented_defaults():
    settings = Settings.from_env(BASE)
    declared = {f.name: f.default for f in dataclasses.fields(Settings)}
    for name in ("code_version", "max_concurrent_batches", "spark_service_account", "dataproc_endpoint",
                 "dataproc_runtime_version", "dataproc_subnet", "batch_ttl", "batch_container_image",
                 "batch_startup_seconds", "pack_concurrency", "handoff_seconds", "token_certs_url",
                 "token_issuers", "token_audiences", "trusted_delegates", "admins", "predict_warm"):
        assert getattr(settings, name) == declared[name], name
    assert (settings.project, settings.bucket, settings.region) == ("acme-ml", "acme-zygarde", "us-central1")
    web = WebSettings.from_env(WEB)
    assert (web.project, web.price_per_dcu_hour, web.max_upload_bytes, web.predict_url) == (
        "zygarde-local", 0.06, 256 * 1024 * 1024, None)
    assert len(web.secret_key) == 64 and web.secret_key != WebSettings.from_env(WEB).secret_key  # a fresh one


def test_every_variable_is_read_by_its_resources_name():
    env = {**BASE, **{env_name(k): v for k, v in {
        "region": "europe-west1", "code_version": "abc1234", "max_concurrent_batches": "9",
        "spark_service_account": "spark@acme-ml.iam.gserviceaccount.com", "dataproc_endpoint": "http://127.0.0.1:8086",
        "dataproc_runtime_version": "2.3", "dataproc_subnet": "default", "batch_ttl": "2h",
        "batch_container_image": "europe-docker.pkg.dev/acme-ml/zygarde/batch:abc1234",
        "batch_startup_seconds": "42.5", "pack_concurrency": "5", "handoff_seconds": "0",
        "token_certs_url": "http://127.0.0.1:9089/certs", "token_issuers": "http://127.0.0.1:9089, other",
        "token_audiences": "aud-1,,aud-2", "trusted_delegates": "Zygarde-Web@acme-ml.iam.gserviceaccount.com",
        "predict_warm": "churn@production, fraud"}.items()},
        web_env_name("admins"): " Root@Example.com, , Ops@Example.com"}
    s = Settings.from_env(env)
    assert (s.region, s.code_version, s.max_concurrent_batches, s.dataproc_runtime_version, s.batch_ttl) == (
        "europe-west1", "abc1234", 9, "2.3", "2h")
    assert (s.batch_startup_seconds, s.pack_concurrency, s.handoff_seconds) == (42.5, 5, 0.0)
    assert s.batch_container_image.endswith("batch:abc1234") and s.dataproc_subnet == "default"
    assert s.token_issuers == ("http://127.0.0.1:9089", "other") and s.token_audiences == ("aud-1", "aud-2")
    assert s.trusted_delegates == {"zygarde-web@acme-ml.iam.gserviceaccount.com"}
    assert s.admins == {"root@example.com", "ops@example.com"} and s.predict_warm == ("churn@production", "fraud")
    assert set(resources()["env"]) >= {f.name for f in dataclasses.fields(Settings)} - {"admins"}


def test_empty_values_mean_the_defaults_where_they_did():
    env = {**BASE, env_name("batch_container_image"): "", env_name("token_certs_url"): "",
           env_name("token_issuers"): " , ", env_name("token_audiences"): ""}
    s = Settings.from_env(env)
    assert (s.batch_container_image, s.token_certs_url, s.token_issuers, s.token_audiences) == (
        None, GOOGLE_CERTS_URL, GOOGLE_ISSUERS, ())
    web = WebSettings.from_env({**WEB, web_env_name("secret_key"): "", env_name("predict_url"): ""})
    assert web.predict_url is None and len(web.secret_key) == 64


def test_os_environ_is_read_when_no_mapping_is_given(monkeypatch):
    for key, value in {**BASE, env_name("pack_concurrency"): "7"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(web_env_name("price_per_dcu_hour"), "0.08")
    assert Settings.from_env().pack_concurrency == 7 and price_per_dcu_hour() == 0.08
    assert Settings.from_env({**BASE}).pack_concurrency == 3  # a given mapping is all that is read


@pytest.mark.parametrize("key,value,words", [
    ("max_concurrent_batches", "four", "valid integer"), ("pack_concurrency", "2.5", "integer"),
    ("batch_startup_seconds", "a minute", "valid number"), ("handoff_seconds", "", "valid number")])
def test_a_bad_value_is_one_sentence_naming_the_variable(key, value, words):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**BASE, env_name(key): value})
    message = str(caught.value)
    assert message.startswith(f"{env_name(key)}={value!r} is not valid (") and words in message
    assert "\n" not in message and "pydantic" not in message and "For further information" not in message


def test_web_bad_values_name_their_variables_all_at_once():
    env = {**WEB, web_env_name("price_per_dcu_hour"): "cheap", web_env_name("max_upload_bytes"): "1GB"}
    with pytest.raises(ConfigError) as caught:
        WebSettings.from_env(env)
    message = str(caught.value)
    assert f"{web_env_name('price_per_dcu_hour')}='cheap' is not valid" in message
    assert f"{web_env_name('max_upload_bytes')}='1GB' is not valid" in message and "\n" not in message
    with pytest.raises(ConfigError, match=f"^{web_env_name('price_per_dcu_hour')}='cheap' is not valid"):
        price_per_dcu_hour(env)


def test_missing_or_empty_required_variables_are_named():
    with pytest.raises(ConfigError, match=f"^missing environment variables: {env_name('project')}, "
                                          f"{env_name('bucket')}$"):
        Settings.from_env({})
    with pytest.raises(ConfigError, match=f"^missing environment variables: {env_name('bucket')}$"):
        Settings.from_env({env_name("project"): "p", env_name("bucket"): ""})
    with pytest.raises(ConfigError, match=f"^missing environment variables: {env_name('bucket')}$"):
        WebSettings.from_env({web_env_name("iap_audience"): "/projects/1/x"})


@pytest.mark.parametrize("value,on", [("1", True), ("TRUE", True), ("yes", True), ("0", False), ("no", False),
                                      ("", False), ("maybe", False)])
def test_dev_login_is_a_yes_no_flag(value, on):
    local = {"PUBSUB_EMULATOR_HOST": "h:1", "FIRESTORE_EMULATOR_HOST": "h:2", "STORAGE_EMULATOR_HOST": "h:3"}
    assert WebSettings.from_env({**WEB, **local, web_env_name("dev_login"): value}).dev_login is on


def test_the_cli_says_which_variable_is_bad_without_a_trace(monkeypatch, tmp_path):
    from zygarde.cli import main as cli

    monkeypatch.chdir(tmp_path)  # no local cloud started from here
    for key, value in {**BASE, env_name("max_concurrent_batches"): "four"}.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(cli, ["status", "job-1"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.output.strip() == (f"Error: {env_name('max_concurrent_batches')}='four' is not valid (input "
                                     "should be a valid integer, unable to parse string as an integer)")
