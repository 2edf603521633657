"""LocalPorts, LocalCloud's recorded state and env, and the `zygarde local` CLI without starting anything."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from zygarde.config import env_name, resources
from zygarde.local.cli import local
from zygarde.local.cloud import EMULATORS, LocalCloud, LocalPorts, all_components
from zygarde.local.processes import LocalCloudError, port_is_free


def test_port_overrides_and_defaults():
    ports = LocalPorts().with_overrides("pubsub=9085, functions=9701,on_reconcile_tick=9999")
    keys = list(resources()["functions"])
    assert (ports.pubsub, ports.firestore, ports.storage, ports.dataproc) == (9085, 8681, 4443, 8086)
    assert ports.functions[keys[0]] == 9701 and ports.functions["on_reconcile_tick"] == 9999
    assert ports.port_of("function-" + keys[0]) == 9701
    with pytest.raises(LocalCloudError, match="unknown port name 'pubsbu'"):
        LocalPorts().with_overrides("pubsbu=1")
    with pytest.raises(LocalCloudError, match="expected NAME=PORT"):
        LocalPorts().with_overrides("pubsub")


def test_free_ports_are_distinct_free_and_in_range():
    ports = LocalPorts.free(18200, 18299)
    values = [ports.pubsub, ports.firestore, ports.storage, ports.dataproc, ports.scheduler, ports.web,
              ports.identity, *ports.functions.values()]
    assert len(set(values)) == len(values) and all(18200 <= p <= 18299 and port_is_free(p) for p in values)


def test_env_names_come_from_resources_and_state_round_trips(tmp_path):
    cloud = LocalCloud(tmp_path, LocalPorts(pubsub=1, firestore=2, storage=3, dataproc=4), project="p",
                       bucket="b", code_version="v1", tick_seconds=7)
    cloud.save()
    assert LocalCloud.load(tmp_path).tick_seconds == 7
    assert LocalCloud.load(tmp_path).spec("scheduler").argv[-4:] == ("--project", "p", "--every", "7")
    env = LocalCloud.load(tmp_path).env()
    assert env == cloud.env()
    assert env["PUBSUB_EMULATOR_HOST"] == "127.0.0.1:1" and env["FIRESTORE_EMULATOR_HOST"] == "127.0.0.1:2"
    assert env["STORAGE_EMULATOR_HOST"] == "http://127.0.0.1:3"
    assert env["CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB"] == "http://127.0.0.1:1/"
    assert env["CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE"] == "http://127.0.0.1:3/"
    assert env["CLOUDSDK_CONFIG"] == str(tmp_path.resolve() / "gcloud")
    assert env[env_name("dataproc_endpoint")] == "http://127.0.0.1:4"
    assert (env[env_name("project")], env[env_name("bucket")], env[env_name("code_version")]) == ("p", "b", "v1")
    emulators_only = LocalCloud(tmp_path, components=EMULATORS).env()
    assert env_name("dataproc_endpoint") not in emulators_only and env_name("code_version") not in emulators_only


def test_cli_env_status_and_clear_errors(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(local, ["status", "--state-dir", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "run `zygarde local up` first" in missing.output
    assert "Traceback" not in missing.output
    LocalCloud(tmp_path, project="p").save()
    out = runner.invoke(local, ["env", "--state-dir", str(tmp_path)])
    assert out.exit_code == 0 and "export GOOGLE_CLOUD_PROJECT=p" in out.output
    status = runner.invoke(local, ["status", "--state-dir", str(tmp_path)])
    assert status.exit_code == 0 and all(c in status.output for c in ("pubsub", "firestore", "dataproc"))
    down = runner.invoke(local, ["down", "--state-dir", str(tmp_path)])
    assert down.exit_code == 0 and "nothing was running" in down.output
    bad = runner.invoke(local, ["up", "--state-dir", str(tmp_path), "--ports", "nope=1"])
    assert bad.exit_code == 1 and "unknown port name" in bad.output
    assert len(all_components()) == 7 + len(resources()["functions"]) + len(resources()["http_functions"])
    assert all_components()[-2:] == ("scheduler", "web")


def test_web_component_runs_the_app_with_the_development_sign_in(tmp_path):
    cloud = LocalCloud(tmp_path, LocalPorts(web=9088), project="p", bucket="b")
    spec = cloud.spec("web")
    assert "zygarde.web.wsgi:app" in spec.argv and "127.0.0.1:9088" in spec.argv
    names = resources()["web_env"]
    assert spec.env[names["dev_login"]] == "1" and spec.env[env_name("bucket")] == "b"
    assert spec.env[names["secret_key"]] == cloud.spec("web").env[names["secret_key"]]  # kept across restarts
    assert spec.env[env_name("predict_url")] == cloud.url("function-predict")  # the model page's predictions
    assert cloud.probe("web").ready_path == "/healthz" and cloud.url("web") == "http://127.0.0.1:9088"


def test_the_identity_issuer_runs_with_the_functions_and_its_settings_reach_every_client(tmp_path):
    from zygarde.adapters.auth import GoogleTokenVerifier
    from zygarde.config import Settings, jobs_audience
    from zygarde.domain.identity import Identity

    cloud = LocalCloud(tmp_path, LocalPorts(identity=9089), project="p", bucket="b",
                       components=(*EMULATORS, "function-submit_job"))
    assert cloud.components == (*EMULATORS, "identity", "function-submit_job")  # added where tokens are checked
    env = cloud.env()
    assert env[env_name("token_certs_url")] == "http://127.0.0.1:9089/oauth2/v1/certs"
    assert env[env_name("token_issuers")] == "http://127.0.0.1:9089"
    assert env[env_name("trusted_delegates")] == "zygarde-web@p.iam.gserviceaccount.com"
    assert cloud.spec("identity").argv[-4:] == ("--state-dir", str(tmp_path.resolve() / "identity"),
                                                "--issuer", "http://127.0.0.1:9089")
    assert cloud.spec("web").env[env_name("local_identity")] == "zygarde-web@p.iam.gserviceaccount.com"
    assert env_name("token_issuers") not in LocalCloud(tmp_path, components=EMULATORS).env()
    # a token the cloud issues verifies with the settings its functions get, against its certificate
    settings = Settings.from_env(env)
    issuer = cloud.token_issuer()
    verifier = GoogleTokenVerifier(settings.audiences, settings.token_issuers, certs=issuer.certs())
    assert verifier.verify(cloud.identity_token("Owner+A@zygarde.dev")) == Identity("owner+a@zygarde.dev")
    assert jobs_audience("p") in settings.audiences
    assert (tmp_path / "identity" / "key.pem").stat().st_mode & 0o077 == 0  # the key is its owner's only


def test_local_env_exports_a_token_for_the_user_asked_for(tmp_path):
    from google.auth import jwt

    LocalCloud(tmp_path, project="p").save()
    out = CliRunner().invoke(local, ["env", "--state-dir", str(tmp_path), "--user", "alice@example.com"])
    assert out.exit_code == 0, out.output
    [line] = [x for x in out.output.splitlines() if x.startswith("export ZYGARDE_IDENTITY_TOKEN=")]
    claims = jwt.decode(line.split("=", 1)[1], verify=False)
    assert claims["email"] == "alice@example.com" and claims["exp"] - claims["iat"] == 12 * 3600
