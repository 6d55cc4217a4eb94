"""Evaluation runs: score a model version on labelled data and publish what the pilot gates read.

The data is read through the catalog's engine, only the columns the run needs. Labels and
predictions are compared as text, so a CSV's ``1`` and a model's ``1.0`` are the same class.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from phasegate.data import audits as data_audits
from phasegate.data import catalog
from phasegate.errors import InvalidInput, Problem
from phasegate.evaluation import bootstrap, fairness, metrics, predictors, registry, thresholds
from phasegate.evaluation.models import EvaluationRun, ModelVersion
from phasegate.evaluation.schemas import EvaluationRequest
from phasegate.identity import audit
from phasegate.identity.audit import Change
from phasegate.identity.roles import Action
from phasegate.identity.service import Principal
from phasegate.lifecycle import evidence as evidence_service
from phasegate.portfolio import service as portfolio_service

Progress = Callable[[str, int, int], None]

# Compared with a baseline on these, each by a paired bootstrap over the same records.
COMPARED: dict[str, tuple[bootstrap.ComparedMetric, ...]] = {
    "classification": ("accuracy", "precision", "recall", "f1"),
    "regression": ("mae", "rmse"),
}


# DuckDB reads a yes/no column as booleans while a model answers "yes": both sides read alike.
BOOLEAN_WORDS = {
    "true": "true",
    "t": "true",
    "yes": "true",
    "y": "true",
    "false": "false",
    "f": "false",
    "no": "false",
    "n": "false",
}


def _quiet(stage: str, done: int, total: int) -> None:
    """Progress goes nowhere unless someone listens."""


def as_text(value: Any) -> str | None:
    """A label as text: integral numbers without their '.0', yes/no words as true/false, missing as None."""
    if value is None:
        return None
    item = getattr(value, "item", None)
    if callable(item):
        value = item()
    if isinstance(value, bool):  # DuckDB reads a yes/no or true/false column as booleans
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    text = str(value).strip()
    return BOOLEAN_WORDS.get(text.lower(), text)


def run_evaluation(
    session: Session,
    *,
    actor: Principal,
    usecase_id: str,
    request: EvaluationRequest,
    progress: Progress = _quiet,
) -> EvaluationRun:
    """Score a version on labelled data; store the run and publish evaluation evidence."""
    usecase = portfolio_service.get(session, usecase_id=usecase_id)
    actor.require(Action.evaluation_run, usecase_id, portfolio_service.ownership_roles(usecase, actor))
    version = registry.get_version(session, usecase_id=usecase_id, reference=request.model)
    baseline = (
        registry.get_version(session, usecase_id=usecase_id, reference=request.baseline)
        if request.baseline
        else None
    )
    source = catalog.get_source(session, source_id=request.data)
    progress("reading data", 0, 1)
    frame, data_print = _read(source, request, version, baseline)
    rows = len(frame)
    if rows == 0:
        raise InvalidInput("nothing to evaluate", [Problem(f"'{source.id}' has no rows", field="data")])
    task = request.task or _guess_task(frame[request.label], request)
    progress("predicting", 0, rows)
    outputs = _outputs(version, frame, request, progress)
    base_outputs = _outputs(baseline, frame, request, progress) if baseline is not None else None
    if base_outputs is None and request.baseline_prediction:
        base_outputs = predictors.Predictions(labels=list(frame[request.baseline_prediction]), scores=None)
    progress("measuring", 0, 1)
    settings = request.model_dump(exclude_none=True)
    if task == "classification":
        performance, fairness_view, comparison, positive = _classification(
            frame, request, outputs, base_outputs
        )
        settings["positive"] = positive
    elif task == "regression":
        performance, comparison = _regression(frame, request, outputs, base_outputs)
        fairness_view = None
    else:
        performance, comparison = _ranking(frame, request, outputs)
        fairness_view = None
    settings["task"] = task
    inputs = {f"data:{source.id}": data_print}
    inputs[f"model:{version.name}@{version.version}"] = version.artifact_sha256 or version.uri or version.id
    if version.training_fingerprint:
        inputs[f"training:{version.training_data}"] = version.training_fingerprint
    described = {
        "model": f"{version.name}@{version.version}",
        "model_version": version.id,
        "data": source.id,
        "rows": rows,
        "task": task,
    }
    performance_payload = {**described, **performance, "comparison": comparison}
    run = EvaluationRun(
        id="ev-run-" + secrets.token_hex(5),
        usecase_id=usecase_id,
        model_version_id=version.id,
        source_id=source.id,
        task=task,
        rows=rows,
        settings=settings,
        performance=performance,
        fairness=fairness_view,
        comparison=comparison,
        inputs=inputs,
        evidence_ids=[],
        created_by=actor.name,
    )
    producer = f"phasegate eval run {usecase_id} --model {version.version} --data {source.id}"
    published = [
        evidence_service.publish(
            session,
            actor=actor,
            usecase_id=usecase_id,
            kind="evaluation.performance",
            producer=producer,
            payload=performance_payload,
            inputs=inputs,
        )
    ]
    if fairness_view is not None:
        published.append(
            evidence_service.publish(
                session,
                actor=actor,
                usecase_id=usecase_id,
                kind="evaluation.fairness",
                producer=producer,
                payload={**described, **fairness_view},
                inputs=inputs,
            )
        )
    run.evidence_ids = [e.id for e in published]
    session.add(run)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "evaluation.run",
            "evaluation_run",
            run.id,
            after={**described, "evidence": run.evidence_ids},
            usecase_id=usecase_id,
        ),
    )
    progress("done", 1, 1)
    return run


def _read(
    source: Any, request: EvaluationRequest, version: ModelVersion, baseline: ModelVersion | None
) -> tuple[Any, str]:
    """The columns the run needs, as a pandas frame, and the data's fingerprint."""
    with data_audits.source_table(source, request.engine) as (_engine, table, location):
        available = list(table.columns)
        named = {
            "label": request.label,
            "prediction": request.prediction,
            "score": request.score,
            "query": request.query,
            "baseline_prediction": request.baseline_prediction,
        }
        problems = [
            Problem(f"no column '{column}' in '{source.id}'", field=field)
            for field, column in named.items()
            if column and column not in available
        ]
        problems += [
            Problem(f"no column '{column}' in '{source.id}'", field="segments")
            for column in request.segments
            if column not in available
        ]
        problems += [
            Problem(f"no column '{column}' in '{source.id}'", field="features")
            for column in request.features or []
            if column not in available
        ]
        if version.kind == "predictions" and not (request.prediction or request.score):
            problems.append(
                Problem(
                    "a predictions version needs --prediction or --score naming its column",
                    field="prediction",
                )
            )
        if problems:
            raise InvalidInput("the evaluation cannot run; nothing was written", problems)
        calls_model = version.kind != "predictions" or (
            baseline is not None and baseline.kind != "predictions"
        )
        wanted = (
            available
            if calls_model
            else [c for c in available if c in set(named.values()) | set(request.segments)]
        )
        frame = table.select(*wanted).to_pandas()
        data_print = data_audits.fingerprint(location, rows=len(frame), columns={c: "" for c in available})
    return frame, data_print


def _guess_task(labels: Any, request: EvaluationRequest) -> str:
    if request.query:
        return "ranking"
    distinct = labels.dropna().unique()
    numeric = np.issubdtype(labels.dtype, np.number)
    return "classification" if (not numeric or len(distinct) <= 2) else "regression"


def _outputs(
    version: ModelVersion | None, frame: Any, request: EvaluationRequest, progress: Progress
) -> predictors.Predictions:
    assert version is not None
    if version.kind == "predictions":
        return predictors.Predictions(
            labels=list(frame[request.prediction]) if request.prediction else None,
            scores=[float(s) for s in frame[request.score]] if request.score else None,
        )
    outputs = {request.label, request.prediction, request.score, request.baseline_prediction}
    features = request.features or [c for c in frame.columns if c not in outputs]
    records = frame[features].to_dict(orient="records")
    return predictors.predict(
        version,
        records,
        positive=request.positive,
        progress=lambda done, total: progress("predicting", done, total),
    )


def _binary(values: Sequence[Any], positive: str) -> np.ndarray[Any, Any]:
    return np.array([1 if as_text(v) == positive else 0 for v in values], dtype=np.int8)


def _classification(
    frame: Any,
    request: EvaluationRequest,
    outputs: predictors.Predictions,
    base: predictors.Predictions | None,
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None, str]:
    truth_text = [as_text(v) for v in frame[request.label]]
    missing = sum(1 for t in truth_text if t is None)
    if missing:
        raise InvalidInput(
            "labels are missing", [Problem(f"{missing} records have no '{request.label}'", field="label")]
        )
    classes = sorted({t for t in truth_text if t is not None}, key=_class_order)
    if len(classes) > 2:
        raise InvalidInput(
            "only binary classification is evaluated",
            [
                Problem(
                    f"'{request.label}' has {len(classes)} classes: {', '.join(classes[:6])}", field="label"
                )
            ],
        )
    positive = as_text(request.positive) if request.positive is not None else classes[-1]
    assert positive is not None
    y_true = _binary(truth_text, positive)
    y_score = np.asarray(outputs.scores, dtype=float) if outputs.scores is not None else None
    if outputs.labels is not None:
        y_pred = _binary(outputs.labels, positive)
    elif y_score is not None:
        y_pred = (y_score >= request.threshold).astype(np.int8)
    else:
        raise InvalidInput(
            "no predictions", [Problem("the model gave neither labels nor scores", field="model")]
        )
    report = bootstrap.classification_report(
        y_true, y_pred, y_score, positive=1, resamples=request.resamples, seed=request.seed
    ).to_dict()
    report["positive"] = positive
    # The matrix is counted on 0/1 codes; readers want the classes they know.
    others = [c for c in classes if c != positive]
    report["confusion_matrix"] |= {
        "positive": positive,
        "negative": others[0] if others else f"not {positive}",
    }
    report["threshold"] = request.threshold if outputs.labels is None else None
    fairness_view = None
    if request.segments:
        groups = {column: [as_text(v) or "(missing)" for v in frame[column]] for column in request.segments}
        fairness_view = fairness.segment_report(
            y_true,
            y_pred,
            groups,
            positive=1,
            min_size=request.min_segment_size,
            resamples=request.resamples,
            seed=request.seed,
        ).to_dict()
    comparison = None
    if base is not None:
        base_pred = (
            _binary(base.labels, positive)
            if base.labels is not None
            else (np.asarray(base.scores, dtype=float) >= request.threshold).astype(np.int8)
        )
        comparison = _compare(y_true, y_pred, base_pred, COMPARED["classification"], request)
    return report, fairness_view, comparison, positive


def _class_order(text: str) -> tuple[int, float | str]:
    try:
        return (0, float(text))
    except ValueError:
        return (1, text)


def _compare(
    y_true: Any,
    model: Any,
    baseline: Any,
    names: Sequence[bootstrap.ComparedMetric],
    request: EvaluationRequest,
) -> dict[str, Any]:
    results = {
        name: bootstrap.compare(
            y_true, model, baseline, metric=name, resamples=request.resamples, seed=request.seed
        ).to_dict()
        for name in names
    }
    first = results[names[0]]
    return {
        "against": request.baseline or f"column {request.baseline_prediction}",
        "metrics": results,
        "model_better": first["model_better"],
        "summary": f"{names[0]}: {first['summary']}",
    }


def _numbers(values: Sequence[Any], field: str, what: str) -> np.ndarray[Any, Any]:
    try:
        array = np.asarray([float(v) for v in values], dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be numbers", [Problem(str(exc), field=field)]) from exc
    if np.isnan(array).any():
        raise InvalidInput(
            f"{what} are missing", [Problem(f"{int(np.isnan(array).sum())} records have none", field=field)]
        )
    return array


def _regression(
    frame: Any,
    request: EvaluationRequest,
    outputs: predictors.Predictions,
    base: predictors.Predictions | None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    y_true = _numbers(list(frame[request.label]), "label", "labels")
    given = outputs.labels if outputs.labels is not None else outputs.scores
    y_pred = _numbers(list(given or []), "prediction", "predictions")
    report = bootstrap.regression_report(
        y_true, y_pred, resamples=request.resamples, seed=request.seed
    ).to_dict()
    comparison = None
    if base is not None:
        base_given = base.labels if base.labels is not None else base.scores
        base_pred = _numbers(list(base_given or []), "baseline", "baseline predictions")
        comparison = _compare(y_true, y_pred, base_pred, COMPARED["regression"], request)
    return report, comparison


def _ranking(
    frame: Any, request: EvaluationRequest, outputs: predictors.Predictions
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    if request.query is None or outputs.scores is None:
        raise InvalidInput(
            "ranking needs queries and scores",
            [Problem("name --query and --score (or a model that gives scores)", field="query")],
        )
    relevance = _numbers(list(frame[request.label]), "label", "relevance labels")
    relevance_by_query, scores_by_query = metrics.by_query(
        frame[request.query].to_numpy(), relevance, np.asarray(outputs.scores, dtype=float)
    )
    report = bootstrap.ranking_report(
        relevance_by_query,
        scores_by_query,
        k=request.k,
        resamples=request.resamples,
        seed=request.seed,
    ).to_dict()
    return report, None


def list_runs(session: Session, *, usecase_id: str) -> Sequence[EvaluationRun]:
    """A use case's evaluation runs, newest first."""
    portfolio_service.get(session, usecase_id=usecase_id)
    return session.scalars(
        select(EvaluationRun)
        .where(EvaluationRun.usecase_id == usecase_id)
        .order_by(EvaluationRun.created_at.desc())
    ).all()


def get_run(session: Session, *, run_id: str) -> EvaluationRun:
    from phasegate.errors import NotFound

    run = session.get(EvaluationRun, run_id)
    if run is None:
        raise NotFound(f"no evaluation run '{run_id}'")
    return run


def suggested_threshold(session: Session, *, usecase_id: str) -> dict[str, Any]:
    """The minimum precision and recall at which the use case's ROI still holds, as a gate criterion."""
    spec = portfolio_service.spec_of(portfolio_service.get(session, usecase_id=usecase_id))
    roi = spec.roi
    missing = [
        name
        for name in ("volume_per_month", "cost_per_transaction_now", "improvement_rate")
        if getattr(roi, name) is None
    ]
    if missing:
        return {
            "usecase": usecase_id,
            "available": False,
            "reason": f"the ROI model lacks {', '.join(missing)}",
        }
    result = thresholds.quality_targets(
        float(roi.volume_per_month or 0),
        float(roi.cost_per_transaction_now or 0),
        float(roi.improvement_rate or 0),
        error_budget=thresholds.error_budget_fraction(spec.error_budget),
    )
    view: dict[str, Any] = {"usecase": usecase_id, "available": True, **result.to_dict()}
    # The low end of the interval, so a small evaluation set cannot pass by luck.
    view["criterion"] = {
        "evidence": "evaluation.performance",
        "require": {
            "metric": "metrics.precision.ci_low",
            "op": ">=",
            "value": round(result.minimum_precision, 4),
        },
        "max_age_days": 30,
    }
    return view
