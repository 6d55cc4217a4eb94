"""Every API route against every role: a route without a role check, or a new route without an
entry here, fails the suite."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from phasegate.data import audits, catalog
from phasegate.data.models import DataJob, Gap
from phasegate.data.schemas import DataSourceSpec
from phasegate.errors import NotFound
from phasegate.evaluation import registry, runs
from phasegate.evaluation.models import ReplayRun
from phasegate.evaluation.schemas import EvaluationRequest, ModelVersionSpec
from phasegate.identity.roles import Role
from phasegate.identity.service import Principal, local_operator
from phasegate.lifecycle import evidence as evidence_service
from phasegate.lifecycle import plans, roadmap
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.schemas import UseCaseSpec
from phasegate.rollout.models import ReviewItem, Rollout
from phasegate.store import Store
from tests.conftest import Users

ANY = frozenset(Role)
EDITORS = frozenset(
    {Role.admin, Role.program_lead, Role.use_case_owner, Role.technical_owner, Role.risk_owner}
)
PLANNERS = frozenset({Role.admin, Role.program_lead, Role.use_case_owner, Role.technical_owner})
DECIDERS = frozenset({Role.admin, Role.program_lead, Role.use_case_owner})
LEADS = frozenset({Role.admin, Role.program_lead})
AUDITORS = frozenset({Role.admin, Role.program_lead, Role.risk_owner})
ADMIN = frozenset({Role.admin})
DATA_MANAGERS = frozenset({Role.admin, Role.program_lead, Role.technical_owner})
DATA_AUDITORS = frozenset({Role.admin, Role.program_lead, Role.technical_owner, Role.risk_owner})
MODEL_MANAGERS = frozenset({Role.admin, Role.program_lead, Role.technical_owner})
MODEL_APPROVERS = frozenset({Role.admin, Role.program_lead, Role.use_case_owner, Role.risk_owner})
REPLAY_REVIEWERS = frozenset(
    {Role.admin, Role.program_lead, Role.use_case_owner, Role.risk_owner, Role.reviewer}
)
ROLLOUT_MANAGERS = frozenset({Role.admin, Role.program_lead, Role.use_case_owner, Role.technical_owner})
ROLLOUT_KILLERS = ROLLOUT_MANAGERS | {Role.risk_owner}
REVIEW_DECIDERS = frozenset({Role.admin, Role.program_lead, Role.use_case_owner, Role.reviewer})
# The ninety-day playbook's first gate ends with `approval: risk`: only a risk owner signs, not an admin.
RISK_ONLY = frozenset({Role.risk_owner})

CSV = b"id,name\nmatrix-import,Imported in the role matrix\n"
REPLAY_SUITE = (
    '{"suite": "matrix", "version": "1.0.0", "identities": {"ann": ["staff"]}, '
    '"sources": {"handbook": {"visible_to": ["staff"]}}}\n'
    '{"id": "c1", "prompt": "Holidays?", "identity": "ann", "expected_facts": [], '
    '"allowed_sources": ["handbook"], "expected_behaviour": "answer"}\n'
)


@dataclass(frozen=True)
class Seeded:
    """What exists before each call: the use case `target` with a plan, an activity and evidence, and the
    data source `target_data` with an audit, a snapshot, a gap and a job."""

    activity_id: int
    evidence_id: str
    workbook: bytes
    audit_id: str
    gap_id: int
    job_id: str
    evaluation_id: str
    replay_id: str
    folder: Path


Request = Callable[[str, Seeded], dict[str, Any]]
MATRIX: dict[tuple[str, str], tuple[frozenset[Role], Request]] = {
    ("GET", "/api/v1/me"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/users"): (ADMIN, lambda role, s: {}),
    ("POST", "/api/v1/users"): (ADMIN, lambda role, s: {"json": {"name": f"new-{role}", "role": "viewer"}}),
    ("POST", "/api/v1/users/{name}/roles"): (ADMIN, lambda role, s: {"json": {"role": "reviewer"}}),
    ("POST", "/api/v1/users/{name}/password"): (ADMIN, lambda role, s: {"json": {}}),
    ("POST", "/api/v1/users/{name}/tokens"): (ADMIN, lambda role, s: {"json": {"label": "x"}}),
    ("GET", "/api/v1/audit"): (AUDITORS, lambda role, s: {}),
    ("GET", "/api/v1/audit/verify"): (AUDITORS, lambda role, s: {}),
    ("GET", "/api/v1/usecases"): (ANY, lambda role, s: {}),
    ("POST", "/api/v1/usecases"): (
        DECIDERS,
        lambda role, s: {"json": {"id": f"new-{role}", "name": "New"}},
    ),
    ("GET", "/api/v1/usecases/{usecase_id}"): (ANY, lambda role, s: {}),
    ("PUT", "/api/v1/usecases/{usecase_id}"): (
        EDITORS,
        lambda role, s: {"json": {"id": "target", "name": f"Renamed by {role}"}},
    ),
    ("PATCH", "/api/v1/usecases/{usecase_id}"): (
        EDITORS,
        lambda role, s: {"json": {"name": f"Patched {role}"}},
    ),
    ("DELETE", "/api/v1/usecases/{usecase_id}"): (LEADS, lambda role, s: {}),
    ("GET", "/api/v1/usecases/{usecase_id}/roi"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/scoring-models"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/portfolio/rank"): (ANY, lambda role, s: {}),
    ("POST", "/api/v1/usecases/import"): (LEADS, lambda role, s: {"files": {"file": ("u.csv", CSV)}}),
    ("POST", "/api/v1/apply"): (
        EDITORS,
        lambda role, s: {"json": {"documents": [{"kind": "UseCase", "id": "target", "name": f"A {role}"}]}},
    ),
    ("GET", "/api/v1/playbooks"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/playbooks/{playbook_id}"): (ANY, lambda role, s: {}),
    ("POST", "/api/v1/usecases/{usecase_id}/plan"): (
        PLANNERS,
        lambda role, s: {"json": {"playbook": "four-phase", "start": "2026-01-05"}},
    ),
    ("GET", "/api/v1/usecases/{usecase_id}/plan"): (ANY, lambda role, s: {}),
    ("POST", "/api/v1/usecases/{usecase_id}/activities"): (
        PLANNERS,
        lambda role, s: {"json": {"phase": "discover", "name": f"Added by {role}"}},
    ),
    ("PATCH", "/api/v1/activities/{activity_id}"): (PLANNERS, lambda role, s: {"json": {"notes": role}}),
    ("POST", "/api/v1/activities/{activity_id}/move"): (PLANNERS, lambda role, s: {"json": {"position": 1}}),
    ("DELETE", "/api/v1/activities/{activity_id}"): (PLANNERS, lambda role, s: {}),
    ("GET", "/api/v1/roadmap"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/roadmap.xlsx"): (ANY, lambda role, s: {}),
    ("POST", "/api/v1/roadmap/import"): (
        PLANNERS,
        lambda role, s: {"files": {"file": ("roadmap.xlsx", s.workbook)}},
    ),
    ("POST", "/api/v1/usecases/{usecase_id}/evidence"): (
        EDITORS,
        lambda role, s: {"data": {"kind": "data.audit", "payload": '{"gaps": {"blockers": 0}}'}},
    ),
    ("GET", "/api/v1/usecases/{usecase_id}/evidence"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/evidence/{evidence_id}"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/evidence/{evidence_id}/attachment"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/usecases/{usecase_id}/gate"): (ANY, lambda role, s: {}),
    ("PUT", "/api/v1/usecases/{usecase_id}/gate/criteria"): (
        LEADS,
        lambda role, s: {"json": {"criteria": [{"evidence": "data.audit"}, {"approval": "risk"}]}},
    ),
    ("POST", "/api/v1/usecases/{usecase_id}/gate/approvals"): (
        RISK_ONLY,
        lambda role, s: {"json": {"criterion": 3, "reason": "controls reviewed"}},
    ),
    ("POST", "/api/v1/usecases/{usecase_id}/gate/decisions"): (
        DECIDERS,
        lambda role, s: {"json": {"decision": "conditional", "reason": "audit pending"}},
    ),
    ("POST", "/api/v1/usecases/{usecase_id}/phase/advance"): (DECIDERS, lambda role, s: {"json": {}}),
    ("GET", "/api/v1/data/sources"): (ANY, lambda role, s: {}),
    ("POST", "/api/v1/data/sources"): (
        DATA_MANAGERS,
        lambda role, s: {"json": {"id": f"made_by_{role.replace('-', '_')}", "location": "/nowhere.csv"}},
    ),
    ("GET", "/api/v1/data/sources/{source_id}"): (ANY, lambda role, s: {}),
    ("DELETE", "/api/v1/data/sources/{source_id}"): (DATA_MANAGERS, lambda role, s: {}),
    ("POST", "/api/v1/data/sources/{source_id}/profile"): (DATA_AUDITORS, lambda role, s: {"json": {}}),
    ("GET", "/api/v1/data/sources/{source_id}/snapshots/{reference}"): (ANY, lambda role, s: {}),
    ("POST", "/api/v1/data/sources/{source_id}/audits"): (DATA_AUDITORS, lambda role, s: {"json": {}}),
    ("GET", "/api/v1/data/jobs/{job_id}"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/data/audits/{audit_id}"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/data/audits/{audit_id}/report"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/data/gaps"): (ANY, lambda role, s: {}),
    ("PATCH", "/api/v1/data/gaps/{gap_id}"): (DATA_MANAGERS, lambda role, s: {"json": {"owner": role}}),
    ("GET", "/api/v1/data/lineage"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/usecases/{usecase_id}/rollout"): (ANY, lambda role, s: {}),
    ("PUT", "/api/v1/usecases/{usecase_id}/rollout"): (
        ROLLOUT_MANAGERS,
        lambda role, s: {"json": {"stage": "shadow", "candidate": "seeded@1.0.0"}},
    ),
    ("POST", "/api/v1/usecases/{usecase_id}/rollout/kill"): (
        ROLLOUT_KILLERS,
        lambda role, s: {"json": {"reason": f"pulled by {role}"}},
    ),
    ("POST", "/api/v1/usecases/{usecase_id}/rollout/analyse"): (ROLLOUT_MANAGERS, lambda role, s: {}),
    ("GET", "/api/v1/usecases/{usecase_id}/inferences"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/reviews"): (ANY, lambda role, s: {}),
    ("POST", "/api/v1/reviews/next"): (REVIEW_DECIDERS, lambda role, s: {"params": {"usecase": "target"}}),
    ("POST", "/api/v1/reviews/{item_id}/take"): (REVIEW_DECIDERS, lambda role, s: {}),
    ("POST", "/api/v1/reviews/{item_id}/release"): (REVIEW_DECIDERS, lambda role, s: {}),
    ("POST", "/api/v1/reviews/{item_id}/decision"): (
        REVIEW_DECIDERS,
        lambda role, s: {"json": {"decision": "approve"}},
    ),
    ("GET", "/api/v1/usecases/{usecase_id}/models"): (ANY, lambda role, s: {}),
    ("POST", "/api/v1/usecases/{usecase_id}/models"): (
        MODEL_MANAGERS,
        lambda role, s: {"json": {"name": f"m-{role}", "version": "1.0.0", "kind": "predictions"}},
    ),
    ("POST", "/api/v1/usecases/{usecase_id}/models/mlflow"): (
        MODEL_MANAGERS,
        lambda role, s: {
            "json": {"tracking_uri": f"file://{s.folder}/no-mlruns", "model_uri": "models:/x/1"}
        },
    ),
    ("GET", "/api/v1/usecases/{usecase_id}/models/{version}"): (ANY, lambda role, s: {}),
    ("POST", "/api/v1/usecases/{usecase_id}/models/{version}/status"): (
        MODEL_APPROVERS,
        lambda role, s: {"json": {"status": "approved"}},
    ),
    ("GET", "/api/v1/usecases/{usecase_id}/models/{version}/card"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/usecases/{usecase_id}/models/{version}/card.md"): (ANY, lambda role, s: {}),
    ("PUT", "/api/v1/usecases/{usecase_id}/models/{version}/card"): (
        MODEL_MANAGERS,
        lambda role, s: {"json": {"sections": {"limitations": f"Written by {role}"}}},
    ),
    ("POST", "/api/v1/usecases/{usecase_id}/evaluations"): (
        MODEL_MANAGERS,
        lambda role, s: {
            "json": {
                "model": "seeded@1.0.0",
                "data": "target_data",
                "label": "label",
                "prediction": "predicted",
                "resamples": 100,
            }
        },
    ),
    ("GET", "/api/v1/usecases/{usecase_id}/evaluations"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/evaluations/{evaluation_id}"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/usecases/{usecase_id}/evaluation-threshold"): (ANY, lambda role, s: {}),
    ("POST", "/api/v1/usecases/{usecase_id}/loadtests"): (
        MODEL_MANAGERS,
        # Nothing listens on the discard port: the test runs, measures connection errors, and is stored.
        lambda role, s: {
            "json": {
                "url": "http://127.0.0.1:9/",
                "rps": 5,
                "duration": 0.2,
                "payloads": [{"x": 1}],
                "timeout": 1,
            }
        },
    ),
    ("GET", "/api/v1/usecases/{usecase_id}/loadtests"): (ANY, lambda role, s: {}),
    ("POST", "/api/v1/usecases/{usecase_id}/replays"): (
        MODEL_MANAGERS,
        lambda role, s: {"json": {"url": "http://127.0.0.1:9/", "probes": False, "suite": REPLAY_SUITE}},
    ),
    ("GET", "/api/v1/usecases/{usecase_id}/replays"): (ANY, lambda role, s: {}),
    ("GET", "/api/v1/replays/{replay_id}"): (ANY, lambda role, s: {}),
    ("PUT", "/api/v1/replays/{replay_id}/reviews/{case_id}"): (
        REPLAY_REVIEWERS,
        lambda role, s: {
            "json": {
                "scores": {"correctness": 5, "source_support": 5, "format_fit": 4, "policy_alignment": 5}
            }
        },
    ),
}


def api_routes(client: TestClient) -> set[tuple[str, str]]:
    """Every operation the API publishes (every API route is in the OpenAPI document)."""
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


def test_every_api_route_has_an_entry_in_the_matrix(app_client: TestClient) -> None:
    missing = api_routes(app_client) - set(MATRIX)
    assert not missing, f"routes without a role-matrix entry (add them to MATRIX): {sorted(missing)}"
    stale = set(MATRIX) - api_routes(app_client)
    assert not stale, f"matrix entries for routes that no longer exist: {sorted(stale)}"


def seed(store: Store, folder: Path) -> Seeded:
    """Make what the routes act on, where it is missing (a call before may have deleted it)."""
    operator = local_operator("seed")
    with store.transaction() as session:
        if not portfolio_service.get_all(session, filters=portfolio_service.Filters(text="target")):
            portfolio_service.create(session, actor=operator, spec=UseCaseSpec(id="target", name="Target"))
        try:
            plan = plans.get(session, usecase_id="target")
        except NotFound:
            plan = plans.start(
                session,
                actor=operator,
                usecase_id="target",
                playbook_id="ninety-day",
                start_on=date(2026, 1, 5),
            )
        if not plan.activities:
            plans.add_activity(
                session,
                actor=operator,
                usecase_id="target",
                change=plans.ActivityChange(phase_id="discover", name="Again"),
            )
        records = evidence_service.get_all(session, usecase_id="target")
        if not records:
            records = [
                evidence_service.publish(
                    session,
                    actor=operator,
                    usecase_id="target",
                    kind="data.audit",
                    producer="seed",
                    payload={},
                    attachment=("a.txt", b"a"),
                )
            ]
        workbook = roadmap.export_workbook(session, filters=roadmap.RoadmapFilters(usecase_ids=("target",)))
        audit_id, gap_id, job_id = _seed_data(session, operator, folder)
        evaluation_id, replay_id = _seed_evaluation(session, operator)
        return Seeded(
            plan.activities[0].id,
            records[-1].id,
            workbook,
            audit_id,
            gap_id,
            job_id,
            evaluation_id,
            replay_id,
            folder,
        )


def _seed_evaluation(session: Session, operator: Principal) -> tuple[str, str]:
    """A predictions version 1.0.0 of `target`, evaluated once, and a replay run with case c1 sampled."""
    if not registry.list_versions(session, usecase_id="target"):
        registry.register(
            session,
            actor=operator,
            usecase_id="target",
            spec=ModelVersionSpec(name="seeded", version="1.0.0", kind="predictions"),
        )
    done = runs.list_runs(session, usecase_id="target")
    evaluation_id = (
        done[0].id
        if done
        else runs.run_evaluation(
            session,
            actor=operator,
            usecase_id="target",
            request=EvaluationRequest(
                model="seeded@1.0.0", data="target_data", label="label", prediction="predicted", resamples=100
            ),
        ).id
    )
    if session.get(Rollout, "target") is None:
        session.add(
            Rollout(
                usecase_id="target",
                stage="off",
                weight=0,
                ladder=[5, 25, 50, 100],
                salt="seed",
                fallback={},
                segment_rules=[],
                criteria=[],
                redaction={},
                updated_by="seed",
            )
        )
    if session.get(ReviewItem, "rq-seed") is None:
        session.add(
            ReviewItem(
                id="rq-seed",
                usecase_id="target",
                input={"x": 1},
                proposed={"value": 1},
                reason="seed",
                due_at=datetime.now(UTC) + timedelta(hours=1),
            )
        )
    replay = session.get(ReplayRun, "rp-seed")
    if replay is None:
        session.add(
            ReplayRun(
                id="rp-seed",
                usecase_id="target",
                url="http://127.0.0.1:9/",
                suite="matrix",
                suite_version="1.0.0",
                result={},
                outcomes=[],
                sample=["c1"],
                created_by="seed",
            )
        )
        session.flush()
    return evaluation_id, "rp-seed"


def _seed_data(session: Session, operator: Principal, folder: Path) -> tuple[str, int, str]:
    csv = folder / "target.csv"
    csv.write_text("id,amount,label,predicted\n1,10,yes,yes\n2,20,no,yes\n3,30,yes,no\n4,40,no,no\n")
    try:
        catalog.get_source(session, source_id="target_data")
    except NotFound:
        catalog.apply_source(
            session, actor=operator, spec=DataSourceSpec(id="target_data", location=str(csv))
        )
    history = audits.audits_of(session, source_id="target_data")
    audit_id = (
        history[0].id if history else audits.audit_source(session, actor=operator, source_id="target_data").id
    )
    gap = session.scalars(select(Gap).where(Gap.source_id == "target_data")).first()
    if gap is None:
        gap = Gap(
            source_id="target_data",
            key="seed",
            title="seed",
            severity="degrader",
            reason="seed",
            status="open",
            evidence={},
            first_audit=audit_id,
            last_audit=audit_id,
        )
        session.add(gap)
    job = session.scalars(select(DataJob)).first()
    if job is None:
        job = DataJob(
            id="job-seed",
            kind="audit",
            source_id="target_data",
            status="done",
            stage="done",
            done=7,
            total=7,
            created_by="seed",
        )
        session.add(job)
    session.flush()
    return audit_id, gap.id, job.id


def _url(path: str, seeded: Seeded) -> str:
    return (
        path.replace("{usecase_id}", "target")
        .replace("{name}", "someone")
        .replace("{playbook_id}", "ninety-day")
        .replace("{activity_id}", str(seeded.activity_id))
        .replace("{evidence_id}", seeded.evidence_id)
        .replace("{source_id}", "target_data")
        .replace("{reference}", "latest")
        .replace("{job_id}", seeded.job_id)
        .replace("{audit_id}", seeded.audit_id)
        .replace("{gap_id}", str(seeded.gap_id))
        .replace("{version}", "seeded@1.0.0")
        .replace("{evaluation_id}", seeded.evaluation_id)
        .replace("{replay_id}", seeded.replay_id)
        .replace("{case_id}", "c1")
        .replace("{item_id}", "rq-seed")
    )


def test_each_role_is_allowed_exactly_what_the_matrix_says(
    app_client: TestClient, users: Users, store: Store, tmp_path: Path
) -> None:
    tokens = {role: users.token(f"user-{role.value}", role.value) for role in Role}
    users.token("someone", "viewer")
    surprises = []
    for (method, path), (allowed, request) in sorted(MATRIX.items()):
        for role in Role:
            seeded = seed(store, tmp_path)
            response = app_client.request(
                method,
                _url(path, seeded),
                headers={"Authorization": f"Bearer {tokens[role]}"},
                **request(role.value, seeded),
            )
            if role in allowed and response.status_code in (401, 403):
                surprises.append(f"{role} refused {method} {path}: {response.status_code} {response.text}")
            if role not in allowed and response.status_code != 403:
                surprises.append(f"{role} not refused {method} {path}: {response.status_code}")
    assert not surprises, "\n".join(surprises)


@pytest.mark.parametrize("method,path", sorted(MATRIX))
def test_no_token_is_401(
    app_client: TestClient, store: Store, tmp_path: Path, method: str, path: str
) -> None:
    _, request = MATRIX[(method, path)]
    seeded = seed(store, tmp_path)
    response = app_client.request(method, _url(path, seeded), **request("anonymous", seeded))
    assert response.status_code == 401
    assert "token" in response.json()["detail"]


def test_an_invalid_token_is_401(app_client: TestClient) -> None:
    response = app_client.get("/api/v1/usecases", headers={"Authorization": "Bearer pg_not-a-real-token"})
    assert response.status_code == 401


def test_a_role_on_one_use_case_does_not_reach_another(
    app_client: TestClient, users: Users, store: Store, tmp_path: Path
) -> None:
    seed(store, tmp_path)
    app_client.post(
        "/api/v1/usecases", json={"id": "other", "name": "Other"}, headers=users.headers("lead", "admin")
    )
    headers = users.headers("scoped", "use-case-owner", usecase="target")
    assert (
        app_client.patch("/api/v1/usecases/target", json={"name": "Mine"}, headers=headers).status_code == 200
    )
    assert (
        app_client.patch("/api/v1/usecases/other", json={"name": "Not mine"}, headers=headers).status_code
        == 403
    )
    # A role on one use case is not a global one: it cannot create use cases.
    assert (
        app_client.post("/api/v1/usecases", json={"id": "x", "name": "X"}, headers=headers).status_code == 403
    )


def test_the_owner_named_in_a_use_case_may_edit_it(
    app_client: TestClient, users: Users, store: Store, tmp_path: Path
) -> None:
    seed(store, tmp_path)
    headers = users.headers("maria.lopez", "viewer")
    assert (
        app_client.patch("/api/v1/usecases/target", json={"name": "Hers"}, headers=headers).status_code == 403
    )
    admin = users.headers("root", "admin")
    app_client.patch("/api/v1/usecases/target", json={"owners": {"use_case": "maria.lopez"}}, headers=admin)
    assert (
        app_client.patch("/api/v1/usecases/target", json={"name": "Hers"}, headers=headers).status_code == 200
    )
