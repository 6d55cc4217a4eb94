"""Load tests as the integration gate sees them: driven by phasegate, stored, published as evidence."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from phasegate import outbound
from phasegate.errors import NotFound
from phasegate.evaluation import loadtest
from phasegate.evaluation.models import LoadTest
from phasegate.identity import audit
from phasegate.identity.audit import Change
from phasegate.identity.roles import Action
from phasegate.identity.service import Principal
from phasegate.lifecycle import evidence as evidence_service
from phasegate.portfolio import service as portfolio_service


def run_and_record(
    session: Session,
    *,
    actor: Principal,
    usecase_id: str,
    url: str,
    rps: float,
    duration: float,
    payloads: Sequence[Mapping[str, Any]],
    payloads_name: str | None = None,
    timeout: float = 10.0,
    outbound_hosts: Sequence[str] | None = None,
) -> LoadTest:
    """Run an open-loop load test against the URL, store it and publish `evaluation.load` evidence.

    The URL's host must be one `outbound_hosts` names, when it is set.
    """
    usecase = portfolio_service.get(session, usecase_id=usecase_id)
    actor.require(Action.evaluation_run, usecase_id, portfolio_service.ownership_roles(usecase, actor))
    outbound.check(url, outbound_hosts, field="url")
    plan = loadtest.LoadPlan(rps=rps, duration_s=duration, timeout_s=timeout)
    result = loadtest.run_load_test(url, plan, payloads, payloads_file=payloads_name)
    return record(session, actor=actor, usecase_id=usecase_id, url=url, result=result.to_dict())


def record(
    session: Session, *, actor: Principal, usecase_id: str, url: str, result: dict[str, Any]
) -> LoadTest:
    """Store a load test's result and publish it; the caller owns the transaction."""
    payloads = result.get("payloads") or {}
    inputs = {"payloads": str(payloads.get("fingerprint"))} if payloads.get("fingerprint") else {}
    published = evidence_service.publish(
        session,
        actor=actor,
        usecase_id=usecase_id,
        kind="evaluation.load",
        producer=f"phasegate loadtest {url} --rps {result.get('requested_rps')} "
        f"--duration {result.get('duration_s')}",
        payload=result,
        inputs=inputs,
        url=url,
    )
    test = LoadTest(
        id="lt-" + secrets.token_hex(6),
        usecase_id=usecase_id,
        url=url,
        result=result,
        evidence_id=published.id,
        created_by=actor.name,
    )
    session.add(test)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "evaluation.load",
            "load_test",
            test.id,
            usecase_id=usecase_id,
            after={
                "url": url,
                "latency": result.get("latency"),
                "error_rate": result.get("error_rate"),
                "evidence": published.id,
            },
        ),
    )
    return test


def list_tests(session: Session, *, usecase_id: str) -> Sequence[LoadTest]:
    """A use case's load tests, newest first."""
    portfolio_service.get(session, usecase_id=usecase_id)
    return session.scalars(
        select(LoadTest).where(LoadTest.usecase_id == usecase_id).order_by(LoadTest.created_at.desc())
    ).all()


def get_test(session: Session, *, test_id: str) -> LoadTest:
    found = session.get(LoadTest, test_id)
    if found is None:
        raise NotFound(f"no load test '{test_id}'")
    return found
