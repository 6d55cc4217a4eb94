"""Model versions and evaluation runs through the API and the CLI, on both stores, with real models.

A predictions file, a trusted scikit-learn pickle, an HTTP endpoint and an OpenAI-compatible endpoint
(both real servers on loopback) are scored; the numbers are compared with scikit-learn's, and the
pilot gate of the five-phase playbook reads the evidence.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from typer.testing import CliRunner

from phasegate.cli import app as cli_app
from tests.evaluation.replay_app import serve

ROWS = 600


def labelled_frame(seed: int = 7, rows: int = ROWS) -> pd.DataFrame:
    """Records with a true label, a model's score and prediction, a weaker heuristic, and a segment."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    label = (x + rng.normal(scale=0.7, size=rows) > 0).astype(int)
    score = 1 / (1 + np.exp(-2.5 * x))
    return pd.DataFrame(
        {
            "x": x.round(4),
            "z": rng.normal(size=rows).round(4),
            "label": np.where(label == 1, "yes", "no"),
            "score": score.round(6),
            "predicted": np.where(score >= 0.5, "yes", "no"),
            "heuristic": np.where(rng.random(rows) < 0.5, "yes", "no"),
            "sex": np.where(rng.random(rows) < 0.4, "female", "male"),
        }
    )


@pytest.fixture
def scored(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    frame = labelled_frame()
    path = tmp_path / "scored.csv"
    frame.to_csv(path, index=False)
    return path, frame


def setup_usecase(client: TestClient, admin: dict[str, str], data: Path, *, plan: bool = False) -> None:
    assert (
        client.post("/api/v1/usecases", json={"id": "triage", "name": "Triage"}, headers=admin).status_code
        == 201
    )
    body = {"id": "scored", "location": str(data), "usecases": ["triage"]}
    assert client.post("/api/v1/data/sources", json=body, headers=admin).status_code == 201
    if plan:
        started = client.post(
            "/api/v1/usecases/triage/plan",
            json={"playbook": "five-phase", "start": date.today().isoformat()},
            headers=admin,
        )
        assert started.status_code == 201, started.text


def register(client: TestClient, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/usecases/triage/models", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_predictions_version_is_scored_like_scikit_learn_with_intervals_and_evidence(
    app_client: TestClient, admin: dict[str, str], scored: tuple[Path, pd.DataFrame]
) -> None:
    path, frame = scored
    setup_usecase(app_client, admin, path)
    register(app_client, admin, name="triage-model", version="1.0.0", kind="predictions")
    body = {
        "model": "1.0.0",
        "data": "scored",
        "label": "label",
        "prediction": "predicted",
        "score": "score",
        "segments": ["sex"],
        "baseline_prediction": "heuristic",
        "resamples": 400,
    }
    response = app_client.post("/api/v1/usecases/triage/evaluations", json=body, headers=admin)
    assert response.status_code == 201, response.text
    run = response.json()
    truth = (frame["label"] == "yes").astype(int)
    predicted = (frame["predicted"] == "yes").astype(int)
    expected = {
        "accuracy": accuracy_score(truth, predicted),
        "precision": precision_score(truth, predicted),
        "recall": recall_score(truth, predicted),
        "f1": f1_score(truth, predicted),
        "roc_auc": roc_auc_score(truth, frame["score"]),
    }
    for name, value in expected.items():
        metric = run["metrics"][name]
        assert metric["value"] == pytest.approx(value, abs=1e-9), name
        assert metric["ci_low"] <= metric["value"] <= metric["ci_high"], name
        assert metric["n"] == ROWS
    assert run["performance"]["positive"] == "true"  # DuckDB reads a yes/no column as booleans
    # The model is far better than a coin-flip heuristic, and the paired comparison says so.
    assert run["comparison"]["model_better"] is True
    assert run["fairness"]["max_disparity"] >= 0
    kinds = {
        e["kind"] for e in app_client.get("/api/v1/usecases/triage/evidence", headers=admin).json()["data"]
    }
    assert {"evaluation.performance", "evaluation.fairness"} <= kinds


def test_the_pilot_gate_passes_or_fails_on_the_evaluation_evidence(
    app_client: TestClient, admin: dict[str, str], tmp_path: Path
) -> None:
    # Near-perfect predictions on 2,000 records: the interval's low end clears 0.85.
    frame = labelled_frame(rows=2000)
    frame["good"] = frame["label"]
    frame.loc[frame.index[:20], "good"] = "yes"
    frame["poor"] = frame["heuristic"]
    path = tmp_path / "gate.csv"
    frame.to_csv(path, index=False)
    setup_usecase(app_client, admin, path, plan=True)
    register(app_client, admin, name="good", version="1.0.0", kind="predictions")
    register(app_client, admin, name="poor", version="1.0.0", kind="predictions")

    def precision_criterion() -> dict[str, Any]:
        gate = app_client.get("/api/v1/usecases/triage/gate", params={"phase": "pilot"}, headers=admin).json()
        [criterion] = [c for c in gate["criteria"] if "evaluation.performance" in c["label"]]
        return dict(criterion)

    assert precision_criterion()["status"] == "missing"
    body = {"data": "scored", "label": "label", "resamples": 200}
    for model, column in (("poor@1.0.0", "poor"), ("good@1.0.0", "good")):
        response = app_client.post(
            "/api/v1/usecases/triage/evaluations",
            json={**body, "model": model, "prediction": column},
            headers=admin,
        )
        assert response.status_code == 201, response.text
        if model.startswith("poor"):
            assert precision_criterion()["status"] == "fail"
    assert precision_criterion()["status"] == "pass"


def test_bad_evaluation_requests_name_the_problem_and_write_nothing(
    app_client: TestClient, admin: dict[str, str], scored: tuple[Path, pd.DataFrame]
) -> None:
    path, _ = scored
    setup_usecase(app_client, admin, path)
    register(app_client, admin, name="m", version="1.0.0", kind="predictions")
    base = {"model": "1.0.0", "data": "scored", "label": "label", "prediction": "predicted"}
    cases = [
        ({**base, "label": "outcome"}, "no column 'outcome' in 'scored'"),
        ({**base, "segments": ["gender"]}, "no column 'gender' in 'scored'"),
        ({**base, "prediction": None}, "needs --prediction or --score"),
        ({**base, "model": "9.9.9"}, "no model version '9.9.9'"),
        ({**base, "data": "missing"}, "missing"),
    ]
    for body, message in cases:
        response = app_client.post("/api/v1/usecases/triage/evaluations", json=body, headers=admin)
        assert response.status_code in (404, 422), response.text
        assert message in response.text, (body, response.text)
    assert app_client.get("/api/v1/usecases/triage/evaluations", headers=admin).json()["count"] == 0


def test_registration_refuses_bad_versions_and_a_version_is_immutable(
    app_client: TestClient, admin: dict[str, str], scored: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    setup_usecase(app_client, admin, scored[0])
    bad = [
        ({"name": "m", "version": "v1", "kind": "predictions"}, "version", "not a semantic version"),
        ({"name": "m", "version": "1.0.0", "kind": "python"}, "uri", "needs a uri"),
        (
            {"name": "m", "version": "1.0.0", "kind": "python", "uri": str(tmp_path / "no.joblib")},
            "uri",
            "no model file",
        ),
        ({"name": "m", "version": "1.0.0", "kind": "tensorflow"}, "kind", ""),
        (
            {"name": "m", "version": "1.0.0", "kind": "predictions", "training_data": "nope"},
            "training_data",
            "no data source 'nope'",
        ),
    ]
    for body, field, message in bad:
        response = app_client.post("/api/v1/usecases/triage/models", json=body, headers=admin)
        assert response.status_code == 422, response.text
        assert field in response.text and message in response.text
    register(app_client, admin, name="m", version="1.0.0", kind="predictions")
    again = app_client.post(
        "/api/v1/usecases/triage/models",
        json={"name": "m", "version": "1.0.0", "kind": "http", "uri": "http://x"},
        headers=admin,
    )
    assert again.status_code == 409
    [only] = app_client.get("/api/v1/usecases/triage/models", headers=admin).json()["data"]
    assert only["kind"] == "predictions"


def train_pickle(frame: pd.DataFrame, path: Path) -> Path:
    model = LogisticRegression().fit(frame[["x", "z"]], frame["label"])
    joblib.dump(model, path)
    return path


def test_a_trusted_pickle_is_evaluated_from_the_cli_and_an_untrusted_one_is_never_loaded(
    cli: CliRunner, settings: Any, scored: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    path, frame = scored
    pickle = train_pickle(frame, tmp_path / "model.joblib")
    usecase = tmp_path / "triage.yaml"
    usecase.write_text("kind: UseCase\nid: triage\nname: Triage\n")
    steps = [
        ["apply", "-f", str(usecase)],
        ["data", "source", "add", "scored", "--location", str(path), "--usecase", "triage"],
        [
            "model",
            "register",
            "triage",
            "--name",
            "lr",
            "--version",
            "1.0.0",
            "--kind",
            "python",
            "--uri",
            str(pickle),
        ],
        [
            "model",
            "register",
            "triage",
            "--name",
            "lr",
            "--version",
            "1.1.0",
            "--kind",
            "python",
            "--uri",
            str(pickle),
            "--trust",
            "--training-data",
            "scored",
        ],
    ]
    for args in steps:
        result = cli.invoke(cli_app, args)
        assert result.exit_code == 0, (args, result.output)
    untrusted = cli.invoke(
        cli_app, ["eval", "run", "triage", "--model", "1.0.0", "--data", "scored", "--label", "label"]
    )
    assert untrusted.exit_code == 1
    assert "not registered as trusted" in untrusted.output
    result = cli.invoke(
        cli_app,
        [
            "eval",
            "run",
            "triage",
            "--model",
            "1.1.0",
            "--data",
            "scored",
            "--label",
            "label",
            "--segments",
            "sex",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    run = json.loads(result.output)
    model = joblib.load(pickle)
    truth = (frame["label"] == "yes").astype(int)
    proba = model.predict_proba(frame[["x", "z"]])[:, list(model.classes_).index("yes")]
    assert run["metrics"]["roc_auc"]["value"] == pytest.approx(roc_auc_score(truth, proba), abs=1e-9)
    predicted = (model.predict(frame[["x", "z"]]) == "yes").astype(int)
    assert run["metrics"]["precision"]["value"] == pytest.approx(precision_score(truth, predicted), abs=1e-9)
    card = cli.invoke(cli_app, ["model", "card", "triage", "1.1.0"])
    assert card.exit_code == 0
    assert "# Model card: lr 1.1.0" in card.output and "roc_auc" in card.output
    # A changed file is not the registered version: refused rather than silently evaluated.
    pickle.write_bytes(pickle.read_bytes() + b"\0")
    changed = cli.invoke(
        cli_app, ["eval", "run", "triage", "--model", "1.1.0", "--data", "scored", "--label", "label"]
    )
    assert changed.exit_code == 1 and "changed since it was registered" in changed.output


@pytest.fixture(scope="module")
def model_servers() -> Iterator[dict[str, str]]:
    """A JSON prediction endpoint and an OpenAI-compatible chat endpoint, both thresholding x at 0."""
    app = FastAPI()
    seen: dict[str, int] = {"batches": 0, "chats": 0}

    @app.post("/predict")
    def predict(body: dict[str, Any]) -> dict[str, Any]:
        seen["batches"] += 1
        xs = [float(r["x"]) for r in body["instances"]]
        return {
            "predictions": ["yes" if x >= 0 else "no" for x in xs],
            "scores": [1 / (1 + np.exp(-2.5 * x)) for x in xs],
        }

    @app.post("/v1/chat/completions")
    def chat(body: dict[str, Any]) -> dict[str, Any]:
        seen["chats"] += 1
        x = float(body["messages"][-1]["content"].split("x=")[1].split()[0])
        return {"choices": [{"message": {"role": "assistant", "content": " yes\n" if x >= 0 else "no"}}]}

    @app.get("/seen")
    def counts() -> dict[str, int]:
        return seen

    with serve(app) as url:
        yield {"http": f"{url}/predict", "openai": f"{url}/v1", "base": url}


def test_http_and_openai_compatible_endpoints_are_called_over_loopback(
    app_client: TestClient, admin: dict[str, str], model_servers: dict[str, str], tmp_path: Path
) -> None:
    frame = labelled_frame(rows=300)
    path = tmp_path / "small.csv"
    frame.to_csv(path, index=False)
    setup_usecase(app_client, admin, path)
    register(app_client, admin, name="api", version="1.0.0", kind="http", uri=model_servers["http"])
    register(
        app_client,
        admin,
        name="chat",
        version="1.0.0",
        kind="openai",
        uri=model_servers["openai"],
        parameters={"prompt": "Is this a yes? x={x} z={z}. Answer yes or no.", "model": "small"},
    )
    before = httpx.get(model_servers["base"] + "/seen").json()
    truth = (frame["label"] == "yes").astype(int)
    predicted = (frame["x"] >= 0).astype(int)
    for model in ("api@1.0.0", "chat@1.0.0"):
        response = app_client.post(
            "/api/v1/usecases/triage/evaluations",
            json={"model": model, "data": "scored", "label": "label", "resamples": 200},
            headers=admin,
        )
        assert response.status_code == 201, response.text
        metrics = response.json()["metrics"]
        assert metrics["recall"]["value"] == pytest.approx(recall_score(truth, predicted), abs=1e-9)
    seen = httpx.get(model_servers["base"] + "/seen").json()
    assert seen["batches"] - before["batches"] == 2  # 300 records in batches of 256
    assert seen["chats"] - before["chats"] == 300


def test_an_unreachable_endpoint_is_a_clear_error(
    app_client: TestClient, admin: dict[str, str], scored: tuple[Path, pd.DataFrame]
) -> None:
    setup_usecase(app_client, admin, scored[0])
    register(app_client, admin, name="gone", version="1.0.0", kind="http", uri="http://127.0.0.1:9/predict")
    response = app_client.post(
        "/api/v1/usecases/triage/evaluations",
        json={"model": "1.0.0", "data": "scored", "label": "label"},
        headers=admin,
    )
    assert response.status_code == 422
    assert "could not reach the model at http://127.0.0.1:9/predict" in response.text


def test_the_card_is_generated_edited_by_section_and_exported_as_markdown(
    app_client: TestClient, admin: dict[str, str], scored: tuple[Path, pd.DataFrame]
) -> None:
    setup_usecase(app_client, admin, scored[0])
    register(app_client, admin, name="m", version="2.0.0-rc.1", kind="predictions", training_data="scored")
    card = app_client.get("/api/v1/usecases/triage/models/2.0.0-rc.1/card", headers=admin).json()
    assert card["sections"]["intended_use"]["edited"] is False
    assert "Triage" in card["sections"]["intended_use"]["text"]
    assert "Not evaluated yet" in card["sections"]["evaluation"]["text"]
    edit = {"sections": {"limitations": "Not for records before 2020."}}
    assert (
        app_client.put("/api/v1/usecases/triage/models/2.0.0-rc.1/card", json=edit, headers=admin).status_code
        == 200
    )
    markdown = app_client.get("/api/v1/usecases/triage/models/m@2.0.0-rc.1/card.md", headers=admin).text
    assert "## Limitations\n\nNot for records before 2020." in markdown
    assert "## Training data\n\nData source `scored`" in markdown
    unknown = app_client.put(
        "/api/v1/usecases/triage/models/2.0.0-rc.1/card", json={"sections": {"tone": "x"}}, headers=admin
    )
    assert unknown.status_code == 422 and "unknown section tone" in unknown.text
    # Given back: an empty text returns the section to the generator.
    app_client.put(
        "/api/v1/usecases/triage/models/2.0.0-rc.1/card",
        json={"sections": {"limitations": ""}},
        headers=admin,
    )
    card = app_client.get("/api/v1/usecases/triage/models/2.0.0-rc.1/card", headers=admin).json()
    assert card["sections"]["limitations"]["edited"] is False


def test_approval_needs_the_accountable_roles_and_a_reason_to_reject(
    app_client: TestClient, admin: dict[str, str], users: Any, scored: tuple[Path, pd.DataFrame]
) -> None:
    setup_usecase(app_client, admin, scored[0])
    register(app_client, admin, name="m", version="1.0.0", kind="predictions")
    engineer = users.headers("eng", "technical-owner")
    risk = users.headers("risk", "risk-owner")
    url = "/api/v1/usecases/triage/models/1.0.0/status"
    assert app_client.post(url, json={"status": "approved"}, headers=engineer).status_code == 403
    refused = app_client.post(url, json={"status": "rejected"}, headers=risk)
    assert refused.status_code == 422 and "needs a reason" in refused.text
    approved = app_client.post(url, json={"status": "approved"}, headers=risk)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    entries = app_client.get("/api/v1/audit", params={"usecase": "triage"}, headers=admin).json()["data"]
    assert any(e["action"] == "model.status" and e["actor"] == "risk" for e in entries)


def test_the_roi_model_suggests_the_minimum_precision(app_client: TestClient, admin: dict[str, str]) -> None:
    body = {
        "id": "claims",
        "name": "Claims",
        "roi": {"volume_per_month": 1000, "cost_per_transaction_now": 10, "improvement_rate": 0.4},
        "error_budget": "at most 5% wrong",
    }
    assert app_client.post("/api/v1/usecases", json=body, headers=admin).status_code == 201
    suggestion = app_client.get("/api/v1/usecases/claims/evaluation-threshold", headers=admin).json()
    assert suggestion["available"] is True
    criterion = suggestion["criterion"]
    assert criterion["require"]["metric"] == "metrics.precision.ci_low"
    # The error budget of 5 % alone asks for 0.95; the ROI's own bar is lower, so the budget decides.
    assert criterion["require"]["value"] == pytest.approx(0.95, abs=1e-9)
    assert (
        app_client.post("/api/v1/usecases", json={"id": "bare", "name": "Bare"}, headers=admin).status_code
        == 201
    )
    bare = app_client.get("/api/v1/usecases/bare/evaluation-threshold", headers=admin).json()
    assert bare["available"] is False and "volume_per_month" in bare["reason"]


@pytest.fixture(scope="module", params=["file", "sqlite"])
def mlflow_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """A local MLflow tracking store — a folder (mlruns) or a SQLite file — with one registered version."""
    from mlflow.tracking import MlflowClient

    folder = tmp_path_factory.mktemp("mlflow")
    # MLflow 3 keeps the folder store in maintenance and asks for this to use it.
    before = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    uri = (folder / "mlruns").as_uri() if request.param == "file" else f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("triage", artifact_location=(folder / "artifacts").as_uri())
    run_id = client.create_run(experiment).info.run_id
    client.log_param(run_id, "C", "0.5")
    client.log_metric(run_id, "roc_auc", 0.91)
    client.set_tag(run_id, "team", "credit-risk")
    model = folder / "model"
    model.mkdir()
    train_pickle(labelled_frame(rows=100), model / "model.pkl")
    client.log_artifacts(run_id, str(model), "model")
    client.set_terminated(run_id)
    client.create_registered_model("triage-model")
    client.create_model_version("triage-model", f"runs:/{run_id}/model", run_id)
    yield {"tracking_uri": uri, "run_id": run_id}
    if before is None:
        os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
    else:
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = before


def test_a_version_is_imported_from_an_mlflow_tracking_store(
    app_client: TestClient,
    admin: dict[str, str],
    scored: tuple[Path, pd.DataFrame],
    mlflow_store: dict[str, str],
) -> None:
    setup_usecase(app_client, admin, scored[0])
    body = {"tracking_uri": mlflow_store["tracking_uri"], "model_uri": "models:/triage-model/1"}
    response = app_client.post("/api/v1/usecases/triage/models/mlflow", json=body, headers=admin)
    assert response.status_code == 201, response.text
    version = response.json()
    assert (version["name"], version["version"]) == ("triage-model", "1.0.0")
    assert version["metrics"] == {"roc_auc": 0.91}
    assert version["parameters"] == {"C": "0.5"}
    assert version["tags"] == {"team": "credit-risk"}
    # The scikit-learn pickle is linked where MLflow keeps it, as a python version not yet trusted.
    assert version["kind"] == "python" and version["uri"].endswith("model/model.pkl")
    assert version["trusted"] is False and version["artifact_sha256"].startswith("sha256:")
    missing = app_client.post(
        "/api/v1/usecases/triage/models/mlflow",
        json={**body, "model_uri": "models:/triage-model/7"},
        headers=admin,
    )
    assert missing.status_code == 404 and "models:/triage-model/7" in missing.text
    assert app_client.get("/api/v1/usecases/triage/models", headers=admin).json()["count"] == 1


def test_a_load_test_through_the_api_becomes_the_integration_gate_evidence(
    app_client: TestClient, admin: dict[str, str], model_servers: dict[str, str], tmp_path: Path
) -> None:
    setup_usecase(app_client, admin, tmp_path / "unused.csv")
    body = {
        "url": model_servers["http"],
        "rps": 40,
        "duration": 1.0,
        "payloads": [{"instances": [{"x": 0.5}]}, {"instances": [{"x": -0.5}]}],
    }
    response = app_client.post("/api/v1/usecases/triage/loadtests", json=body, headers=admin)
    assert response.status_code == 201, response.text
    result = response.json()["result"]
    assert result["requests"] == 40 and result["error_rate"] == 0
    assert 0 < result["latency"]["p50_ms"] <= result["latency"]["p95_ms"] <= result["latency"]["max_ms"]
    [evidence] = app_client.get(
        "/api/v1/usecases/triage/evidence", params={"kind": "evaluation.load"}, headers=admin
    ).json()["data"]
    assert evidence["payload"]["latency"]["p95_ms"] == result["latency"]["p95_ms"]
    bad = app_client.post("/api/v1/usecases/triage/loadtests", json={**body, "url": "ftp://x"}, headers=admin)
    assert bad.status_code == 422
    assert app_client.get("/api/v1/usecases/triage/loadtests", headers=admin).json()["count"] == 1


def test_regression_and_ranking_runs_match_scikit_learn(
    app_client: TestClient, admin: dict[str, str], tmp_path: Path
) -> None:
    from sklearn.metrics import mean_absolute_error, ndcg_score

    rng = np.random.default_rng(3)
    rows = 240
    frame = pd.DataFrame(
        {
            "query": np.repeat([f"q{i}" for i in range(24)], 10),
            "relevance": rng.integers(0, 3, rows),
            "score": rng.random(rows).round(6),
            "amount": rng.gamma(2.0, 50.0, rows).round(2),
        }
    )
    frame["forecast"] = (frame["amount"] * rng.normal(1.0, 0.1, rows)).round(2)
    path = tmp_path / "ranked.csv"
    frame.to_csv(path, index=False)
    setup_usecase(app_client, admin, path)
    register(app_client, admin, name="m", version="1.0.0", kind="predictions")
    common = {"model": "1.0.0", "data": "scored", "resamples": 200}
    regression = app_client.post(
        "/api/v1/usecases/triage/evaluations",
        json={**common, "label": "amount", "prediction": "forecast"},
        headers=admin,
    )
    assert regression.status_code == 201, regression.text
    assert regression.json()["task"] == "regression"
    mae = regression.json()["metrics"]["mae"]
    assert mae["value"] == pytest.approx(mean_absolute_error(frame["amount"], frame["forecast"]), abs=1e-9)
    ranking = app_client.post(
        "/api/v1/usecases/triage/evaluations",
        json={**common, "label": "relevance", "score": "score", "query": "query", "k": 5},
        headers=admin,
    )
    assert ranking.status_code == 201, ranking.text
    assert ranking.json()["task"] == "ranking"
    truth = frame["relevance"].to_numpy().reshape(24, 10)
    scores = frame["score"].to_numpy().reshape(24, 10)
    expected = ndcg_score(truth, scores, k=5)
    assert ranking.json()["metrics"]["ndcg_at_k"]["value"] == pytest.approx(expected, abs=1e-9)
