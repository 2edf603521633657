"""Registered models in the web app: list, versions with lineage, package download, comparison."""
from __future__ import annotations

import io
import zipfile

from tests.unit.web.conftest import BUCKET, add_job


def test_models_and_versions_with_lineage(ana, bob, deps):
    add_job(deps.repo, "ana", "ana-job")
    page = ana.get("/models").get_data(as_text=True)
    assert "ana-job" in page
    assert "ana-job" not in bob.get("/models").get_data(as_text=True)
    page = ana.get("/models/ana-job").get_data(as_text=True)
    assert "t001" in page and "0.9300" in page and "0.9000" in page
    assert f"gs://{BUCKET}/datasets/ana/people.csv" in page and "crc32c" in page  # dataset and its fingerprint
    assert bob.get("/models/ana-job").status_code == 404


def test_package_download_zips_the_package_folder(ana, bob, deps):
    add_job(deps.repo, "ana", "ana-job")
    base = f"gs://{BUCKET}/models/ana-job/ana-job/"
    deps.blobs.write_bytes(base + "manifest.json", b'{"job_id": "ana-job"}')
    deps.blobs.write_bytes(base + "model/metadata/part-00000", b"meta")
    resp = ana.get("/models/ana-job/1/package.zip")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(resp.data)).namelist()
    assert sorted(names) == ["manifest.json", "model/metadata/part-00000"]
    assert bob.get("/models/ana-job/1/package.zip").status_code == 404
    assert ana.get("/models/ana-job/9/package.zip").status_code == 404


def test_compare_two_versions(ana, deps):
    add_job(deps.repo, "ana", "ana-job")
    deps.repo.register_model_version("ana-job", "ana-job-2", {
        "trial_id": "t004", "algorithm": "random_forest_classifier", "params": {"numTrees": 50},
        "metric": "areaUnderROC", "validation_metrics": {"areaUnderROC": 0.95}, "test_metrics": {"areaUnderROC": 0.94}},
        "ana")
    add_job(deps.repo, "ana", "ana-job-2")  # the second version's job
    page = ana.get("/models/ana-job/compare?a=1&b=2").get_data(as_text=True)
    assert "v1" in page and "v2" in page and "random_forest_classifier" in page and "0.94" in page
    assert "param numTrees" in page
    assert ana.get("/models/ana-job/compare?a=1&b=7").status_code == 404


def test_model_page_charts_each_versions_feature_importance(ana, deps):
    import re

    add_job(deps.repo, "ana", "ana-job")  # version 1: registered before models carried importance
    columns = [{"column": "support_calls", "permutation": 0.2, "native": 0.6},
               {"column": "tenure <months>", "permutation": 0.05, "native": 0.3},
               {"column": "region", "permutation": -0.01, "native": 0.1}]
    deps.repo.register_model_version("ana-job", "ana-job-2", {
        "trial_id": "t004", "algorithm": "xgboost_classifier", "metric": "areaUnderROC",
        "importance": {"status": "available", "native": "gain", "columns": columns,
                       "permutation": {"metric": "areaUnderROC", "part": "validation"}}}, "ana")
    add_job(deps.repo, "ana", "ana-job-2")
    page = ana.get("/models/ana-job").get_data(as_text=True)
    newest = page[page.index('id="importance-v2"'):page.index('id="importance-v1"')]
    assert "areaUnderROC worsens on the validation part when the column is shuffled" in newest
    bars = re.findall(r'<rect class="bar" data-column="([^"]+)" x="\d+" y="\d+" width="([\d.]+)"', newest)
    assert bars == [("support_calls", "320.0"), ("tenure &lt;months&gt;", "80.0"), ("region", "0.0")]
    older = page[page.index('id="importance-v1"'):]
    assert "No feature importance: registered before models carried it" in older.split("</details>")[0]


def test_model_page_says_whether_each_version_explains_single_predictions(ana, deps):
    from markupsafe import escape

    from zygarde.domain.ensemble_importance import NO_ATTRIBUTIONS

    add_job(deps.repo, "ana", "ana-job")  # version 1: registered before models carried explanations
    deps.repo.register_model_version("ana-job", "ana-job-2", {
        "trial_id": "t004", "algorithm": "ensemble", "metric": "areaUnderROC",
        "importance": {"status": "available", "native": "coefficient+gain",
                       "columns": [{"column": "support_calls", "permutation": 0.2, "native": 0.6}],
                       "permutation": {"metric": "areaUnderROC", "part": "validation", "weighted": True}},
        "explanations": {"status": "unavailable", "reason": NO_ATTRIBUTIONS}}, "ana")
    add_job(deps.repo, "ana", "ana-job-2")
    deps.repo.register_model_version("ana-job", "ana-job-3", {
        "trial_id": "t002", "algorithm": "xgboost_classifier", "metric": "areaUnderROC",
        "explanations": {"status": "available", "method": "tree_shap", "output": "the margin (log-odds) of class 'yes'"}},
        "ana")
    add_job(deps.repo, "ana", "ana-job-3")
    page = ana.get("/models/ana-job").get_data(as_text=True)
    ensemble = page[page.index('id="importance-v2"'):page.index('id="importance-v1"')]
    assert "support_calls" in ensemble  # its members' importance, weighted, charted as any version's
    assert f"Per-row explanations: none ({escape(NO_ATTRIBUTIONS)})." in ensemble
    newest = page[page.index('id="importance-v3"'):page.index('id="importance-v2"')]
    assert "Per-row explanations: tree_shap (the margin (log-odds) of class &#39;yes&#39;)" in newest
    older = page[page.index('id="importance-v1"'):]
    assert "Per-row explanations: none (registered before models carried them)." in older
