"""The batches' container image: its definition meets Dataproc Serverless's custom container
requirements and pins what requirements.lock pins; Cloud Build builds and pushes it under the name
terraform gives it; terraform sets it on every batch through the functions' environment, and the
Dataproc adapter puts it in the batch's RuntimeConfig."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from zygarde import config
from zygarde.adapters.dataproc import DataprocBatchLauncher
from zygarde.service_layer.ports import BatchRequest

from tests.unit.test_terraform import R, tf  # noqa: F401 - the parsed terraform module

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "container" / "Dockerfile").read_text()
RUNTIME_PYTHON = {"3.0": "3.12", "2.3": "3.11", "2.2": "3.11"}  # Dataproc Serverless runtime -> its Python


def _pins(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {name.lower(): version for name, _, version in (line.partition("==") for line in lines if line)}


def test_image_pins_what_the_lock_pins_and_no_spark():
    image, lock = _pins(ROOT / "container" / "requirements.txt"), _pins(ROOT / "requirements.lock")
    assert {"numpy", "pandas", "pyarrow", "xgboost-cpu", "scipy"} <= set(image)
    assert {name: lock.get(name) for name in image} == image
    assert not any(name.startswith("pyspark") for name in image)  # the runtime mounts Spark


def test_dockerfile_meets_the_custom_container_requirements(tf):  # noqa: F811
    assert not re.search(r"pyspark(?!_python)|openjdk|temurin|spark-\d", DOCKERFILE, re.I)  # no Spark, no Java
    assert "procps" in DOCKERFILE and "tini" in DOCKERFILE
    assert "useradd -u 1099 -g 1099" in DOCKERFILE and "groupadd -g 1099 spark" in DOCKERFILE
    assert re.search(r"^USER spark$", DOCKERFILE, re.M)
    assert re.search(r"^ENV PYSPARK_PYTHON=/usr/local/bin/python3", DOCKERFILE, re.M)
    base = re.search(r"^FROM python:(\d+\.\d+)", DOCKERFILE, re.M).group(1)
    assert base == RUNTIME_PYTHON[tf.var_values["dataproc_runtime_version"]]


def test_cloud_build_builds_and_pushes_the_image_terraform_names(tf):  # noqa: F811
    steps = {s["id"]: "\n".join(map(str, s.get("args", []))) for s in
             yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())["steps"]}
    built = re.search(r'IMAGE="([^"]+)"', steps["batch-image"]).group(1)
    assert "docker build -q -f container/Dockerfile" in steps["batch-image"]
    assert 'docker push "$$IMAGE"' in steps["batch-image"] and 'docker push "$$IMAGE"' in \
        steps["push-batch-image-after-apply"]
    assert re.search(r'IMAGE="([^"]+)"', steps["push-batch-image-after-apply"]).group(1) == built
    var = tf.var_values
    values = {"_REGION": var["region"], "PROJECT_ID": var["project_id"], "_NAME_PREFIX": var["name_prefix"],
              "SHORT_SHA": var["code_version"]}
    expanded = re.sub(r"\$\{(\w+)\}", lambda m: values[m[1]], built)
    assert expanded == tf.ev(tf.locals["batch_image"])


def test_every_function_sets_the_image_on_its_batches(tf):  # noqa: F811
    name = config.env_name("batch_container_image")
    for key in R["functions"]:
        [service] = tf.arg("google_cloudfunctions2_function.fn", key, "service_config")
        assert service["environment_variables"][name] == tf.ev(tf.locals["batch_image"])
    member = tf.arg("google_artifact_registry_repository_iam_member.spark_pulls_images", None, "member")
    assert "google_service_account.spark" in member or "zygarde-spark" in member
    assert tf.arg("google_artifact_registry_repository_iam_member.spark_pulls_images", None, "role") == \
        "roles/artifactregistry.reader"
    settings = config.Settings.from_env({config.env_name("project"): "p", config.env_name("bucket"): "b",
                                         name: "europe-docker.pkg.dev/p/zygarde-containers/batch:abc1234"})
    assert settings.batch_container_image.endswith("batch:abc1234")
    assert settings.dataproc_runtime_version == "3.0"


def test_the_adapter_puts_the_image_in_the_runtime_config():
    request = BatchRequest(batch_id="zyg-j-t0001-a1", main_python_file_uri="gs://b/code/v/train_pack.py",
                           properties={"spark.executor.instances": "2"})
    image = "europe-docker.pkg.dev/p/zygarde-containers/batch:abc1234"
    batch = DataprocBatchLauncher("p", "europe-west1", container_image=image)._batch(request)
    assert batch.runtime_config.container_image == image and batch.runtime_config.version == "3.0"
    assert dict(batch.runtime_config.properties) == {"spark.executor.instances": "2"}
    assert DataprocBatchLauncher("p", "europe-west1")._batch(request).runtime_config.container_image == ""
