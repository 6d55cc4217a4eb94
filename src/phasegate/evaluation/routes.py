"""Evaluation's REST routes: model versions and cards, evaluation runs, load tests, replays and reviews."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from phasegate.api import CurrentPrincipal, SessionDep, SettingsDep
from phasegate.evaluation import loadtests, registry, replays, runs
from phasegate.evaluation.models import EvaluationRun, LoadTest, ReplayRun
from phasegate.evaluation.schemas import (
    CardEdit,
    EvaluationRequest,
    MlflowImport,
    ModelVersionSpec,
    ReviewScores,
    StatusChange,
)
from phasegate.identity.roles import Action

router = APIRouter(tags=["evaluation"])


@router.get("/usecases/{usecase_id}/models")
def list_models(usecase_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """A use case's model versions, newest first."""
    principal.require(Action.read)
    found = registry.list_versions(session, usecase_id=usecase_id)
    return {"data": [registry.version_view(v) for v in found], "count": len(found)}


@router.post("/usecases/{usecase_id}/models", status_code=status.HTTP_201_CREATED)
def register_model(
    usecase_id: str,
    spec: ModelVersionSpec,
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Register a model version."""
    version = registry.register(
        session, actor=principal, usecase_id=usecase_id, spec=spec, outbound_hosts=settings.outbound_hosts
    )
    session.commit()
    return registry.version_view(version)


@router.post("/usecases/{usecase_id}/models/mlflow", status_code=status.HTTP_201_CREATED)
def import_model(
    usecase_id: str, request: MlflowImport, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Register a version from an MLflow tracking store: version, metrics, parameters and tags."""
    version = registry.import_mlflow(session, actor=principal, usecase_id=usecase_id, request=request)
    session.commit()
    return registry.version_view(version)


@router.get("/usecases/{usecase_id}/models/{version}")
def read_model(
    usecase_id: str, version: str, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """A version with its card and evaluation runs."""
    principal.require(Action.read)
    found = registry.get_version(session, usecase_id=usecase_id, reference=version)
    history = [r for r in runs.list_runs(session, usecase_id=usecase_id) if r.model_version_id == found.id]
    return {
        **registry.version_view(found),
        "card": registry.card_sections(session, version=found),
        "evaluations": [run_view(r) for r in history],
    }


@router.post("/usecases/{usecase_id}/models/{version}/status")
def change_status(
    usecase_id: str, version: str, change: StatusChange, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Approve, reject or retire a version."""
    registry.require(session, principal, Action.model_approve, usecase_id)
    found = registry.get_version(session, usecase_id=usecase_id, reference=version)
    registry.set_status(session, actor=principal, version=found, status=change.status, reason=change.reason)
    session.commit()
    return registry.version_view(found)


@router.get("/usecases/{usecase_id}/models/{version}/card")
def read_card(
    usecase_id: str, version: str, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """The model card: each section, whether a person wrote it, and the whole as Markdown."""
    principal.require(Action.read)
    found = registry.get_version(session, usecase_id=usecase_id, reference=version)
    return {
        "sections": registry.card_sections(session, version=found),
        "markdown": registry.card_markdown(session, version=found),
    }


@router.get("/usecases/{usecase_id}/models/{version}/card.md", response_class=PlainTextResponse)
def card_markdown(usecase_id: str, version: str, session: SessionDep, principal: CurrentPrincipal) -> str:
    """The model card as a Markdown file."""
    principal.require(Action.read)
    found = registry.get_version(session, usecase_id=usecase_id, reference=version)
    return registry.card_markdown(session, version=found)


@router.put("/usecases/{usecase_id}/models/{version}/card")
def edit_card(
    usecase_id: str, version: str, edit: CardEdit, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Write card sections over the generated ones (an empty text gives a section back)."""
    registry.require(session, principal, Action.model_manage, usecase_id)
    found = registry.get_version(session, usecase_id=usecase_id, reference=version)
    registry.edit_card(session, actor=principal, version=found, sections=edit.sections)
    session.commit()
    return {"sections": registry.card_sections(session, version=found)}


def run_view(run: EvaluationRun, *, full: bool = False) -> dict[str, Any]:
    view = {
        "id": run.id,
        "usecase": run.usecase_id,
        "model_version": run.model_version_id,
        "data": run.source_id,
        "task": run.task,
        "rows": run.rows,
        "metrics": run.performance.get("metrics", {}),
        "max_disparity": (run.fairness or {}).get("max_disparity"),
        "model_better": (run.comparison or {}).get("model_better"),
        "evidence": run.evidence_ids,
        "created_by": run.created_by,
        "created_at": run.created_at.isoformat(),
    }
    if full:
        view |= {
            "settings": run.settings,
            "performance": run.performance,
            "fairness": run.fairness,
            "comparison": run.comparison,
            "inputs": run.inputs,
        }
    return view


@router.post("/usecases/{usecase_id}/evaluations", status_code=status.HTTP_201_CREATED)
def run_evaluation(
    usecase_id: str, request: EvaluationRequest, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Score a model version on labelled data; publishes evaluation.performance (and .fairness)."""
    run = runs.run_evaluation(session, actor=principal, usecase_id=usecase_id, request=request)
    session.commit()
    return run_view(run, full=True)


@router.get("/usecases/{usecase_id}/evaluations")
def list_evaluations(usecase_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """A use case's evaluation runs, newest first."""
    principal.require(Action.read)
    found = runs.list_runs(session, usecase_id=usecase_id)
    return {"data": [run_view(r) for r in found], "count": len(found)}


@router.get("/evaluations/{evaluation_id}")
def read_evaluation(evaluation_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """One evaluation run in full: metrics with intervals, confusion matrix, segments, comparison."""
    principal.require(Action.read)
    return run_view(runs.get_run(session, run_id=evaluation_id), full=True)


@router.get("/usecases/{usecase_id}/evaluation-threshold")
def evaluation_threshold(usecase_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """The minimum precision and recall at which the use case's ROI still holds, as a gate criterion."""
    principal.require(Action.read)
    return runs.suggested_threshold(session, usecase_id=usecase_id)


class LoadTestRequest(BaseModel):
    url: str
    rps: float = Field(gt=0, le=5000)
    duration: float = Field(gt=0, le=600, description="seconds")
    payloads: list[dict[str, Any]] = Field(min_length=1)
    payloads_name: str | None = None
    timeout: float = Field(10.0, gt=0, le=120)


def load_view(test: LoadTest) -> dict[str, Any]:
    return {
        "id": test.id,
        "usecase": test.usecase_id,
        "url": test.url,
        "result": test.result,
        "evidence": test.evidence_id,
        "created_by": test.created_by,
        "created_at": test.created_at.isoformat(),
    }


@router.post("/usecases/{usecase_id}/loadtests", status_code=status.HTTP_201_CREATED)
def run_load_test(
    usecase_id: str,
    request: LoadTestRequest,
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Drive an open-loop load test from this server; publishes evaluation.load."""
    test = loadtests.run_and_record(
        session,
        actor=principal,
        usecase_id=usecase_id,
        url=request.url,
        rps=request.rps,
        duration=request.duration,
        payloads=request.payloads,
        payloads_name=request.payloads_name,
        timeout=request.timeout,
        outbound_hosts=settings.outbound_hosts,
    )
    session.commit()
    return load_view(test)


@router.get("/usecases/{usecase_id}/loadtests")
def list_load_tests(usecase_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """A use case's load tests, newest first."""
    principal.require(Action.read)
    found = loadtests.list_tests(session, usecase_id=usecase_id)
    return {"data": [load_view(t) for t in found], "count": len(found)}


class ReplayRequest(BaseModel):
    url: str
    suite: str = Field(description="the suite's JSON lines")
    suite_name: str = "suite.jsonl"
    probes: bool = True
    sample: int = Field(20, ge=0, le=500, description="cases sent to human rubric review")
    seed: int = 0


def replay_view(run: ReplayRun, *, full: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": run.id,
        "usecase": run.usecase_id,
        "url": run.url,
        "suite": run.suite,
        "suite_version": run.suite_version,
        "result": run.result,
        "sample": run.sample,
        "evidence": run.evidence_id,
        "created_by": run.created_by,
        "created_at": run.created_at.isoformat(),
    }
    if full:
        view["outcomes"] = run.outcomes
    return view


@router.post("/usecases/{usecase_id}/replays", status_code=status.HTTP_201_CREATED)
def run_replay(
    usecase_id: str,
    request: ReplayRequest,
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Replay a suite (and the shipped probes) against an app; publishes evaluation.replay."""
    run = replays.run_and_record(
        session,
        actor=principal,
        usecase_id=usecase_id,
        url=request.url,
        suite=request.suite.encode(),
        suite_name=request.suite_name,
        probes=request.probes,
        sample=request.sample,
        seed=request.seed,
        outbound_hosts=settings.outbound_hosts,
    )
    session.commit()
    return replay_view(run)


@router.get("/usecases/{usecase_id}/replays")
def list_replays(usecase_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """A use case's replay runs, newest first."""
    principal.require(Action.read)
    found = replays.list_runs(session, usecase_id=usecase_id)
    return {"data": [replay_view(r) for r in found], "count": len(found)}


@router.get("/replays/{replay_id}")
def read_replay(replay_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """A replay run with every case's answer and checks, and the rubric reviews so far."""
    principal.require(Action.read)
    run = replays.get_run(session, run_id=replay_id)
    return {**replay_view(run, full=True), "reviews": replays.review_summary(session, run=run)}


@router.put("/replays/{replay_id}/reviews/{case_id}")
def review_case(
    replay_id: str, case_id: str, body: ReviewScores, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Score one sampled case on the rubric (a reviewer's second scoring replaces the first)."""
    run = replays.get_run(session, run_id=replay_id)
    replays.review(session, actor=principal, run=run, case_id=case_id, scores=body.scores, note=body.note)
    session.commit()
    return replays.review_summary(session, run=run)
