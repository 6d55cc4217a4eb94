"""Replay runs: a suite replayed against an app, stored with its review sample, published as evidence.

Answers are stored for reviewers with any personal data the detectors find masked: a leaky app
must not turn phasegate's store into a second copy of the leak.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from phasegate import outbound
from phasegate.data.pii import load_detectors
from phasegate.errors import InvalidInput, NotFound, Problem
from phasegate.evaluation import replay
from phasegate.evaluation.models import ReplayReview, ReplayRun
from phasegate.identity import audit
from phasegate.identity.audit import Change
from phasegate.identity.roles import Action
from phasegate.identity.service import Principal
from phasegate.lifecycle import evidence as evidence_service
from phasegate.portfolio import service as portfolio_service
from phasegate.store import now


def mask_pii(text: str) -> str:
    """The text with every value a PII detector recognises masked."""
    for detector in load_detectors().values():
        for found in detector.find(text):
            text = text.replace(found, detector.mask(found))
    return text


def _outcome_view(outcome: replay.CaseOutcome) -> dict[str, Any]:
    return {
        "case": outcome.case_id,
        "prompt": outcome.prompt,
        "identity": outcome.identity,
        "expected": outcome.expected,
        "behaviour": outcome.behaviour,
        "answer": mask_pii(outcome.answer),
        "cited": list(outcome.cited),
        "passed": outcome.passed,
        "probe": outcome.probe,
        "error": outcome.error,
        "seconds": outcome.seconds,
        "checks": [
            {"name": c.name, "status": c.status, "reason": mask_pii(c.reason)} for c in outcome.checks
        ],
    }


def run_and_record(
    session: Session,
    *,
    actor: Principal,
    usecase_id: str,
    url: str,
    suite: bytes,
    suite_name: str = "suite.jsonl",
    probes: bool = True,
    sample: int = 20,
    seed: int = 0,
    outbound_hosts: Sequence[str] | None = None,
) -> ReplayRun:
    """Replay the suite (and the shipped probes) against the app; store it and publish `evaluation.replay`.

    The app's host must be one `outbound_hosts` names, when it is set.
    """
    usecase = portfolio_service.get(session, usecase_id=usecase_id)
    actor.require(Action.evaluation_run, usecase_id, portfolio_service.ownership_roles(usecase, actor))
    outbound.check(url, outbound_hosts, field="url")
    parsed = replay.parse_suite(suite, file=suite_name)
    result = replay.run_replay(parsed, url, probes=None if probes else ())
    summary = result.to_dict()
    for failure in summary["failures"]:
        failure["reason"] = mask_pii(failure["reason"])
    published = evidence_service.publish(
        session,
        actor=actor,
        usecase_id=usecase_id,
        kind=replay.EVIDENCE_KIND,
        producer=f"phasegate replay run {usecase_id} --suite {suite_name} --url {url}",
        payload=summary,
        inputs=replay.evidence_inputs(result),
        url=url,
    )
    run = ReplayRun(
        id="rp-" + secrets.token_hex(6),
        usecase_id=usecase_id,
        url=url,
        suite=parsed.name,
        suite_version=parsed.version,
        result=summary,
        outcomes=[_outcome_view(o) for o in result.outcomes],
        sample=replay.review_sample(result, size=sample, seed=seed),
        evidence_id=published.id,
        created_by=actor.name,
    )
    session.add(run)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "evaluation.replay",
            "replay_run",
            run.id,
            usecase_id=usecase_id,
            after={
                "suite": parsed.name,
                "version": parsed.version,
                "pass_rate": summary["pass_rate"],
                "probes": summary["probes"],
                "evidence": published.id,
            },
        ),
    )
    return run


def list_runs(session: Session, *, usecase_id: str) -> Sequence[ReplayRun]:
    """A use case's replay runs, newest first."""
    portfolio_service.get(session, usecase_id=usecase_id)
    return session.scalars(
        select(ReplayRun).where(ReplayRun.usecase_id == usecase_id).order_by(ReplayRun.created_at.desc())
    ).all()


def get_run(session: Session, *, run_id: str) -> ReplayRun:
    found = session.get(ReplayRun, run_id)
    if found is None:
        raise NotFound(f"no replay run '{run_id}'")
    return found


def review(
    session: Session,
    *,
    actor: Principal,
    run: ReplayRun,
    case_id: str,
    scores: dict[str, int],
    note: str | None,
) -> ReplayReview:
    """Record a reviewer's rubric scores for a sampled case; scoring it again replaces the first."""
    usecase = portfolio_service.get(session, usecase_id=run.usecase_id)
    actor.require(Action.replay_review, run.usecase_id, portfolio_service.ownership_roles(usecase, actor))
    if case_id not in run.sample:
        raise InvalidInput(
            "that case is not in the review sample",
            [Problem(f"'{case_id}' is not one of the {len(run.sample)} sampled cases", field="case")],
        )
    problems = [Problem(message, field=f"scores.{name}") for name, message in replay.score_problems(scores)]
    if problems:
        raise InvalidInput("the rubric is not complete; nothing was written", problems)
    existing = session.scalar(
        select(ReplayReview).where(
            ReplayReview.run_id == run.id,
            ReplayReview.case_id == case_id,
            ReplayReview.reviewer == actor.name,
        )
    )
    before = None
    if existing is None:
        existing = ReplayReview(run_id=run.id, case_id=case_id, reviewer=actor.name, scores=scores, note=note)
        session.add(existing)
    else:
        before = {"scores": existing.scores, "note": existing.note}
        existing.scores, existing.note, existing.created_at = scores, note, now()
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "replay.review",
            "replay_run",
            run.id,
            before=before,
            usecase_id=run.usecase_id,
            after={"case": case_id, "scores": scores},
        ),
    )
    return existing


def reviews_of(session: Session, *, run: ReplayRun) -> Sequence[ReplayReview]:
    return session.scalars(
        select(ReplayReview).where(ReplayReview.run_id == run.id).order_by(ReplayReview.id)
    ).all()


def review_summary(session: Session, *, run: ReplayRun) -> dict[str, Any]:
    """The rubric so far: per dimension the mean and share good, and which sampled cases wait."""
    found = reviews_of(session, run=run)
    reviewed = {r.case_id for r in found}
    return {
        "rubric": [
            {"name": d.name, "question": d.question, "anchors": dict(d.anchors)} for d in replay.RUBRIC
        ],
        "reviews": [
            {
                "case": r.case_id,
                "reviewer": r.reviewer,
                "scores": r.scores,
                "note": r.note,
                "at": r.created_at.isoformat(),
            }
            for r in found
        ],
        "waiting": [c for c in run.sample if c not in reviewed],
        "summary": replay.rubric_summary(
            replay.RubricReview(r.case_id, r.reviewer, r.scores, r.note or "") for r in found
        ),
    }
