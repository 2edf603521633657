"""zygarde.Client on the in-memory ports: what it uploads and publishes (and that the submit function,
fed those messages, records the job), reads, scoring online (the predict service in-process) and in a
batch (a fake Dataproc that writes the predictions), bad input, cancel delivered twice."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.unit import online_fixtures
from tests.unit.conftest import OWNER, PUBLISHED, token
from tests.unit.test_handlers import finish, finish_stage
from zygarde import ZygardeError
from zygarde.adapters.memory import MemoryBatchLauncher
from zygarde.client import Client, Job, Model
from zygarde.client.errors import ExplanationsUnavailable, NoModel, NotAllowed, NotSignedIn, WaitTimeout
from zygarde.domain.errors import DatasetError, SpecError
from zygarde.domain.identity import token_attributes
from zygarde.domain.model import FINALIZE, PREPARE, JobState
from zygarde.service_layer import edge, online_edge
from zygarde.service_layer.online import ModelCache

PREFIX = f"gs://bkt/datasets/{OWNER}/"


def patients(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    age = rng.integers(20, 80, n)
    return pd.DataFrame({"age": age.astype(float), "color": rng.choice(["red", "blue"], n),
                         "smoker": rng.choice([True, False], n), "y": np.where(age > 50, "yes", "no")})


def deliver(deps, start: int = 0) -> list[str | None]:
    """Deliver what was published on the jobs topic (from message `start` on) to the submit function."""
    out = []
    for i, (topic, data, attributes) in enumerate(deps.publisher.messages[start:], start):
        if topic == "jobs":
            out.append(edge.submit_job(edge.PubSubMessage(data, attributes, f"pub-{i}", PUBLISHED), deps))
    return out


@pytest.fixture
def client(deps):
    return Client(deps=deps, tokens=lambda: token(OWNER))


def as_user(deps, user: str) -> Client:
    return Client(deps=deps, tokens=lambda: token(user))


def jobs_published(deps) -> list[tuple[dict, dict]]:
    return [(json.loads(d), a) for t, d, a in deps.publisher.messages if t == "jobs"]


def run_to_the_end(deps, job_id: str) -> None:
    """The job's preparation, trials and finalisation report success, as its batches would."""
    finish_stage(deps, job_id, PREPARE)
    for i, trial in enumerate(t for t in deps.repo.list_trials(job_id) if t.kind == "train"):
        finish(deps, job_id, trial.trial_id, auc=0.8 + i / 100)
    finish_stage(deps, job_id, FINALIZE)


def test_train_uploads_parquet_under_the_owners_folder_and_publishes_a_signed_spec(deps, client):
    df = patients()
    job = client.train(df, target="y", name="smokers", candidates=[{"algorithm": "logistic_regression"}])
    [(spec, attributes)] = jobs_published(deps)
    assert attributes == token_attributes(token(OWNER))  # signed as every way in signs
    assert spec["owner"] == OWNER and spec["job_id"] == job.job_id and spec["name"] == "smokers"
    assert spec["task"] == "binary_classification"  # two target values
    assert spec["dataset"]["format"] == "parquet" and spec["dataset"]["target"] == "y"
    uri = spec["dataset"]["uri"]
    assert uri.startswith(PREFIX + "smokers-") and uri.endswith(".parquet")
    assert pd.read_parquet(io.BytesIO(deps.blobs.read_bytes(uri))).equals(df)
    assert job.status().state == "SUBMITTED"
    assert deliver(deps) == [job.job_id]  # the submit function takes it as it is
    assert job.status().state == "RUNNING" and job.spec["dataset"]["uri"] == uri
    # the same data again: the same object, not a second copy
    client.train(df, target="y", name="smokers", candidates=[{"algorithm": "logistic_regression"}])
    assert [u for u in deps.blobs.list(PREFIX) if u.endswith(".parquet")] == [uri]
    assert jobs_published(deps)[1][0]["dataset"]["uri"] == uri


def test_train_suggests_the_task_from_the_target_and_takes_a_deadline(deps, client):
    df = patients().assign(price=np.linspace(1.5, 99.5, 40))
    client.train(df, target="price", deadline_minutes=30, seed=3)
    [(spec, _)] = jobs_published(deps)
    assert spec["task"] == "regression" and spec["budget"] == {"deadline_minutes": 30} and spec["seed"] == 3
    assert "candidates" not in spec  # the default search space, filled in by the spec's own code
    deliver(deps)
    assert deps.repo.get_job(spec["job_id"]).state is JobState.RUNNING


def test_train_takes_local_csv_and_parquet_files(deps, client, tmp_path):
    df = patients()
    df.to_csv(tmp_path / "visits.csv", index=False)
    df.to_parquet(tmp_path / "visits2.parquet", index=False)
    client.train(tmp_path / "visits.csv", target="y", task="binary_classification")
    client.train(str(tmp_path / "visits2.parquet"), target="y")
    (csv_spec, _), (parquet_spec, _) = jobs_published(deps)
    assert csv_spec["dataset"]["uri"].startswith(PREFIX + "visits-")
    assert parquet_spec["dataset"]["uri"].startswith(PREFIX + "visits2-")
    assert deps.blobs.read_bytes(parquet_spec["dataset"]["uri"]) == (tmp_path / "visits2.parquet").read_bytes()
    assert deliver(deps) == [csv_spec["job_id"], parquet_spec["job_id"]]


def test_bad_input_raises_the_functions_reason_and_writes_nothing(deps, client, tmp_path):
    before = dict(deps.blobs.objects)
    with pytest.raises(DatasetError) as missing:
        client.train(patients(), target="price", task="regression")
    reason = str(missing.value)
    assert reason.startswith("dataset.target: the target column 'price' is not in gs://bkt/datasets/")
    # the submit function gives the same sentence for the same spec (once the data is there)
    with pytest.raises(SpecError) as unknown:
        client.train(patients(), target="y", candidates=[{"algorithm": "gradient_magic"}])
    assert str(unknown.value).startswith("candidates[0].algorithm: unknown algorithm 'gradient_magic'")
    for call, field in [(lambda: client.train(42, target="y"), "data"),
                        (lambda: client.train(patients(), target="y", dataset={"uri": "gs://x/y"}), "dataset"),
                        (lambda: client.train(patients(), target="y", max_parallel="2"), "max_parallel"),
                        (lambda: client.train(patients(), target="y", colour="red"), "colour"),
                        (lambda: client.train(tmp_path / "none.csv", target="y"), "data"),
                        (lambda: client.train(tmp_path / "notes.txt", target="y"), "data"),
                        (lambda: client.train(patients().iloc[:0], target="y"), "data")]:
        with pytest.raises(ZygardeError) as exc:
            call()
        assert str(exc.value).startswith(field + ":"), (field, str(exc.value))
    assert deps.blobs.objects == before and jobs_published(deps) == []
    # the function's own verdict on that missing target, delivered as the client would have sent it
    from zygarde.client import data, submit

    staged = data.stage(patients(), "price", OWNER, "bkt")
    staged.write(deps.blobs)
    doc = submit.job_document(OWNER, "job-price", staged, "price", "regression", None, {})
    edge.submit_job(edge.PubSubMessage(json.dumps(doc).encode(), token_attributes(token(OWNER)), "m9", PUBLISHED), deps)
    assert deps.repo.get_job("job-price").state is JobState.REJECTED
    assert deps.repo.get_job("job-price").error == reason


def test_a_model_name_of_another_user_is_refused_before_upload(deps, client):
    online_fixtures.register(deps.repo, deps.blobs, "churn", "job-b", owner="bob@example.com", bucket="bkt")
    before = dict(deps.blobs.objects)
    with pytest.raises(SpecError, match=r"^name: the model 'churn' belongs to another user"):
        client.train(patients(), target="y", name="churn")
    assert deps.blobs.objects == before and jobs_published(deps) == []


def test_without_an_identity_token_nothing_is_sent(deps):
    anonymous = Client(deps=deps)  # no $ZYGARDE_IDENTITY_TOKEN, no local issuer, Google refuses (unit tests)
    with pytest.raises(NotSignedIn, match="cannot prove who you are"):
        anonymous.train(patients(), target="y")
    assert jobs_published(deps) == []


def test_follow_a_job_to_its_model(deps, client, capsys):
    job = client.train(patients(), target="y", name="smokers", packing="off",
                       candidates=[{"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.1]}}])
    deliver(deps)
    with pytest.raises(WaitTimeout, match=f"job {job.job_id} has not ended after 0 s"):
        job.wait(timeout=0, progress=False)
    with pytest.raises(NoModel, match="it has not ended yet"):
        job.model()
    run_to_the_end(deps, job.job_id)
    status = job.wait(timeout=5)
    assert status.state == "SUCCEEDED" and status.finished and status.done == status.total == 2
    assert status.model == ("smokers", 1) and "registered as smokers v1" in str(status)
    assert job.job_id in capsys.readouterr().err  # tqdm's bar, in a terminal
    board = job.leaderboard()
    assert list(board["trial_id"]) == ["t0001", "t0000"] and list(board["rank"]) == [1, 2]
    assert list(board["areaUnderROC"]) == [0.81, 0.8] and list(board["f1"]) == [0.5, 0.5]
    assert board.loc[0, "params"] == {"regParam": 0.1}
    assert job.report() == {"row_count": 100, "warnings": []}
    model = job.model()
    assert (model.name, model.version, model.job_id) == ("smokers", 1, job.job_id)
    assert model.test_metrics == {"areaUnderROC": 0.91}
    assert client.jobs()["job_id"].tolist() == [job.job_id]
    assert client.models().to_dict("records") == [{"name": "smokers", "owner": OWNER, "role": "owner",
                                                   "latest_version": 1}]


def test_another_users_jobs_and_models_look_absent(deps, client):
    job = client.train(patients(), target="y", name="smokers")
    deliver(deps)
    bob = as_user(deps, "bob@example.com")
    assert bob.jobs().empty and bob.models().empty
    with pytest.raises(NotAllowed, match=f"there is no job '{job.job_id}' of yours"):
        bob.job(job.job_id)
    with pytest.raises(NotAllowed):
        bob.cancel(job.job_id)
    with pytest.raises(NotAllowed):
        bob.rerun(job.job_id)
    online_fixtures.register(deps.repo, deps.blobs, "churn", "job-a", owner=OWNER, bucket="bkt")
    with pytest.raises(NotAllowed, match=r"there is no model 'churn' that you \(bob@example.com\) may use"):
        bob.model("churn")
    assert len(jobs_published(deps)) == 1


def test_cancel_is_signed_and_idempotent(deps, client):
    job = client.train(patients(), target="y")
    deliver(deps)
    assert client.cancel(job.job_id) is True
    cancels = [(d, a) for t, d, a in deps.publisher.messages if a.get("action") == "cancel"]
    assert cancels == [(json.dumps({"job_id": job.job_id}).encode(), token_attributes(token(OWNER)) | {"action": "cancel"})]
    deliver(deps, 1)
    deliver(deps, 1)  # the same cancel delivered twice
    assert job.status().state == "CANCELLED"
    writes = deps.repo.writes
    assert client.cancel(job.job_id) is False  # already ended: nothing published
    assert len(jobs_published(deps)) == 2 and deps.repo.writes == writes  # the job and one cancel


def test_rerun_submits_the_same_spec_under_a_new_id(deps, client):
    job = client.train(patients(), target="y", seed=11)
    deliver(deps)
    again = client.rerun(job.job_id)
    assert again.job_id != job.job_id
    deliver(deps, 1)
    first, second = deps.repo.get_job(job.job_id).spec, deps.repo.get_job(again.job_id).spec
    assert second["dataset"] == first["dataset"] and second["seed"] == 11 and second["name"] == job.job_id


@pytest.fixture
def served(deps):
    """The predict service's edge in-process, over the same repository and bucket."""
    cache = ModelCache(deps.blobs)

    def http(name, ref, data, caller=OWNER):
        return online_edge.handle("POST", f"/v1/models/{name}/versions/{ref}:predict", data, deps.repo, cache,
                                  caller=caller)

    return http


ROWS = pd.DataFrame({"age": [25.0, 70.0, np.nan], "color": ["red", "blue", "green"]}, index=[10, 11, 12])


def test_predict_online_when_the_version_serves_online(deps, served):
    online_fixtures.register(deps.repo, deps.blobs, "churn", "job-a", owner=OWNER, bucket="bkt")
    model = Client(deps=deps, tokens=lambda: token(OWNER), predict_http=served).model("churn")
    assert model.online and model.version == 1
    out = model.predict(ROWS)
    assert out.attrs["route"] == "online" == model.last_route
    status, answer = served("churn", "1", json.dumps({"instances": [{"age": 25.0, "color": "red"},
                                                                    {"age": 70.0, "color": "blue"},
                                                                    {"age": None, "color": "green"}]}).encode())
    assert status == 200
    assert list(out.index) == [10, 11, 12]
    assert out["label"].tolist() == [p["label"] for p in answer["predictions"]]
    assert out["probability_yes"].tolist() == [p["probabilities"][1] for p in answer["predictions"]]
    with pytest.raises(ExplanationsUnavailable, match="churn v1 has no per-row attributions"):
        model.explain(ROWS)
    with pytest.raises(ZygardeError, match=r"^instances: must be a pandas DataFrame"):
        model.predict("age=3")


class ScoringLauncher(MemoryBatchLauncher):
    """A Dataproc stand-in that runs predict.py at once: the input's rows, scored by a rule, written as
    Parquet part files in reverse order (the client must put them back in the input's order)."""

    def __init__(self, blobs):
        super().__init__()
        self.blobs = blobs

    def create(self, request):
        super().create(request)
        args = dict(zip(request.args[::2], request.args[1::2]))
        rows = pd.read_parquet(io.BytesIO(self.blobs.read_bytes(args["--input"])))
        scored = rows.assign(prediction=(rows["age"] > 50).astype(float),
                             predicted_label=np.where(rows["age"] > 50, "yes", "no"),
                             probability=[[0.2, 0.8] if a > 50 else [0.9, 0.1] for a in rows["age"]])
        for i, part in enumerate([scored.iloc[1:], scored.iloc[:1]]):
            buffer = io.BytesIO()
            part.to_parquet(buffer, index=False)
            self.blobs.write_bytes(f"{args['--output']}part-0000{i}.snappy.parquet", buffer.getvalue())
        self.blobs.write_bytes(args["--output"] + "_SUCCESS", b"")
        self.finish(request.batch_id, "SUCCEEDED")


def test_predict_in_a_batch_when_the_version_does_not_serve_online(deps, served, tmp_path):
    deps.launcher = ScoringLauncher(deps.blobs)
    online_fixtures.register(deps.repo, deps.blobs, "churn", "job-a", owner=OWNER, bucket="bkt", online=False)
    model = Client(deps=deps, tokens=lambda: token(OWNER), predict_http=served).model("churn")
    rows = ROWS.assign(age=[25.0, 70.0, 60.0])
    out = model.predict(rows)
    assert out.attrs["route"] == "batch"
    assert out["label"].tolist() == ["no", "yes", "yes"] and list(out.index) == [10, 11, 12]
    assert out["probability_yes"].tolist() == [0.1, 0.8, 0.8]  # classes named from the manifest's labels
    [request] = deps.launcher.requests.values()
    assert "--input" in request.args and request.args[request.args.index("--input") + 1].startswith(PREFIX + "predict-churn-")
    with pytest.raises(ExplanationsUnavailable, match="this version does not serve online"):
        model.explain(rows)
    path = model.download(tmp_path / "pkg")
    assert json.loads((path / "manifest.json").read_text())["labels"] == ["no", "yes"]


def test_importing_zygarde_stays_cheap():
    code = ("import sys, zygarde; before = set(sys.modules); zygarde.Client; zygarde.ZygardeError; "
            "print(sorted(m for m in sys.modules if m.startswith(('google.cloud.', 'pandas', 'pyspark', 'tqdm'))),"
            " 'zygarde.client' in before)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["[]", "False"], out.stdout + out.stderr


def test_a_client_without_settings_says_how_to_get_them(monkeypatch, tmp_path):
    for name in ("ZYGARDE_PROJECT", "ZYGARDE_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no local cloud started from here
    with pytest.raises(ZygardeError, match=r"missing environment variables: .*zygarde local env"):
        Client()


def test_job_and_model_are_what_zygarde_exports():
    import zygarde

    assert zygarde.Client is Client and zygarde.Job is Job and zygarde.Model is Model
