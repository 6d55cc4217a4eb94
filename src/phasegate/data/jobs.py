"""Audits run as background jobs: the request returns at once, and anyone may poll the job's progress.

Progress lives in the store, not in memory, so a poll answered by another replica sees it too.
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from phasegate.data import audits, catalog
from phasegate.data.models import DataJob
from phasegate.errors import NotFound, PhasegateError
from phasegate.identity.roles import Action
from phasegate.identity.service import Principal
from phasegate.store import Store, now


def start_audit(store: Store, *, actor: Principal, source_id: str, request: audits.AuditRequest) -> DataJob:
    """Check the caller and the source now, then audit in the background; returns the job to poll."""
    with store.transaction() as session:
        actor.require(Action.data_audit)
        catalog.get_source(session, source_id=source_id)
        job = DataJob(
            id=f"job-{secrets.token_hex(6)}",
            kind="audit",
            source_id=source_id,
            status="running",
            stage="queued",
            done=0,
            total=len(audits.STAGES),
            created_by=actor.name,
        )
        session.add(job)
    thread = threading.Thread(
        target=_run_audit,
        args=(store, job.id, actor, source_id, request),
        name=f"phasegate-{job.id}",
        daemon=True,
    )
    thread.start()
    return job


def _run_audit(
    store: Store, job_id: str, actor: Principal, source_id: str, request: audits.AuditRequest
) -> None:
    def progress(stage: str, done: int, total: int) -> None:
        # Written in its own short transaction, before the audit itself writes anything.
        if stage in ("store", "done"):
            return
        _update(store, job_id, stage=stage, done=done, total=total)

    try:
        with store.transaction() as session:
            record = audits.audit_source(
                session, actor=actor, source_id=source_id, request=request, progress=progress
            )
            audit_id = record.id
        _update(store, job_id, stage="done", done=len(audits.STAGES), status="done", result_id=audit_id)
    except PhasegateError as exc:
        _update(
            store,
            job_id,
            status="failed",
            error={"detail": exc.message, "problems": [p.as_dict() for p in exc.problems]},
        )
    except Exception as exc:  # the job must end in a state a poller can read, whatever went wrong
        _update(
            store, job_id, status="failed", error={"detail": f"{type(exc).__name__}: {exc}", "problems": []}
        )


def _update(store: Store, job_id: str, **fields: object) -> None:
    with store.transaction() as session:
        job = session.get(DataJob, job_id)
        if job is None:
            return
        for key, value in fields.items():
            setattr(job, key, value)
        job.updated_at = datetime.now(UTC)


def get_job(session: Session, *, job_id: str) -> DataJob:
    """A job, or NotFound."""
    job = session.get(DataJob, job_id)
    if job is None:
        raise NotFound(f"no job '{job_id}'")
    return job


def job_view(job: DataJob) -> dict[str, object]:
    return {
        "id": job.id,
        "kind": job.kind,
        "source": job.source_id,
        "status": job.status,
        "stage": job.stage,
        "done": job.done,
        "total": job.total,
        "result": job.result_id,
        "error": job.error,
        "created_by": job.created_by,
        "created_at": job.created_at.isoformat(),
        "age_seconds": (now() - job.created_at).total_seconds(),
    }
