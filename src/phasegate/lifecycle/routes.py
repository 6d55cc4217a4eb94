"""The lifecycle's REST routes: playbooks, plans and activities, the roadmap, evidence and gates."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status
from pydantic import BaseModel, Field

from phasegate.api import CurrentPrincipal, SessionDep
from phasegate.errors import InvalidInput, Problem
from phasegate.identity.roles import Action
from phasegate.lifecycle import evidence as evidence_service
from phasegate.lifecycle import gating, library, plans, roadmap
from phasegate.store import now

router = APIRouter(tags=["lifecycle"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/playbooks")
def list_playbooks(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """The built-in playbooks and the organisation's own."""
    principal.require(Action.read)
    found = library.list_playbooks(session)
    return {
        "data": [
            {"id": spec.id, "name": spec.name, "source": source, "phases": [p.id for p in spec.phases]}
            for spec, source in found
        ]
    }


@router.get("/playbooks/{playbook_id}")
def read_playbook(playbook_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """A playbook's phases, activities, deliverables and gate criteria."""
    principal.require(Action.read)
    return library.get_playbook(session, playbook_id=playbook_id).document()


class PlanStart(BaseModel):
    playbook: str
    start: date


@router.post("/usecases/{usecase_id}/plan", status_code=status.HTTP_201_CREATED)
def start_plan(
    usecase_id: str, body: PlanStart, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Plan a use case through a playbook from a start date; the first phase's gate is frozen now."""
    plan = plans.start(
        session, actor=principal, usecase_id=usecase_id, playbook_id=body.playbook, start_on=body.start
    )
    session.commit()
    return plans.plan_report(plan, today=now().date())


@router.get("/usecases/{usecase_id}/plan")
def read_plan(usecase_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """The plan: phases, activities, critical path, slippage and effort against the playbook."""
    principal.require(Action.read, usecase_id)
    return plans.plan_report(plans.get(session, usecase_id=usecase_id), today=now().date())


class ActivityBody(BaseModel):
    """An activity's fields; on a change, the ones left out stay as they are."""

    phase: str | None = None
    name: str | None = None
    owner: str | None = None
    planned_start: date | None = None
    planned_end: date | None = None
    actual_start: date | None = None
    actual_end: date | None = None
    effort_hours: float | None = None
    status: str | None = None
    depends_on: list[int] | None = None
    notes: str | None = None

    def change(self) -> plans.ActivityChange:
        fields = self.model_dump(exclude={"phase"})
        return plans.ActivityChange(phase_id=self.phase, **fields)


@router.post("/usecases/{usecase_id}/activities", status_code=status.HTTP_201_CREATED)
def add_activity(
    usecase_id: str, body: ActivityBody, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Add an activity to a phase of the plan."""
    activity = plans.add_activity(session, actor=principal, usecase_id=usecase_id, change=body.change())
    session.commit()
    return plans.activity_view(activity)


@router.patch("/activities/{activity_id}")
def edit_activity(
    activity_id: int, body: ActivityBody, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Change an activity; a dependency loop is refused with the loop named."""
    activity = plans.edit_activity(session, actor=principal, activity_id=activity_id, change=body.change())
    session.commit()
    return plans.activity_view(activity)


class Move(BaseModel):
    position: int = Field(ge=0)


@router.post("/activities/{activity_id}/move")
def move_activity(
    activity_id: int, body: Move, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Put an activity at a new place in the plan's order."""
    activity = plans.move_activity(session, actor=principal, activity_id=activity_id, position=body.position)
    session.commit()
    return plans.activity_view(activity)


@router.delete("/activities/{activity_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_activity(activity_id: int, session: SessionDep, principal: CurrentPrincipal) -> Response:
    """Remove an activity; those that depended on it no longer do."""
    plans.delete_activity(session, actor=principal, activity_id=activity_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _filters(
    owner: str | None, business_unit: str | None, usecase: list[str] | None
) -> roadmap.RoadmapFilters:
    return roadmap.RoadmapFilters(owner=owner, business_unit=business_unit, usecase_ids=tuple(usecase or ()))


@router.get("/roadmap")
def read_roadmap(
    session: SessionDep,
    principal: CurrentPrincipal,
    owner: str | None = None,
    business_unit: str | None = None,
    usecase: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    """Every plan on one timeline, overdue and blocked activities flagged."""
    principal.require(Action.read)
    items = roadmap.timeline(session, filters=_filters(owner, business_unit, usecase), today=now().date())
    return {"data": items, "count": len(items)}


@router.get("/roadmap.xlsx", response_class=Response, responses={200: {"content": {XLSX: {}}}})
def export_roadmap(
    session: SessionDep,
    principal: CurrentPrincipal,
    owner: str | None = None,
    business_unit: str | None = None,
    usecase: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """The roadmap as an Excel workbook: Roadmap, Activities, and Roadmap with Activities."""
    principal.require(Action.read)
    data = roadmap.export_workbook(session, filters=_filters(owner, business_unit, usecase))
    headers = {"Content-Disposition": 'attachment; filename="roadmap.xlsx"'}
    return Response(content=data, media_type=XLSX, headers=headers)


@router.post("/roadmap/import")
async def import_roadmap(
    session: SessionDep,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="a roadmap workbook, edited by hand or not")],
    dry_run: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    """Apply a roadmap workbook row by row: all of it, or nothing when any row has a problem."""
    principal.require(Action.read)
    report = roadmap.import_workbook(
        session,
        actor=principal,
        data=await file.read(),
        filename=file.filename or "workbook",
        dry_run=dry_run,
    )
    if not dry_run:
        session.commit()
    counts = {k: sum(1 for r in report if r.outcome == k) for k in ("create", "update", "unchanged")}
    return {
        "dry_run": dry_run,
        "counts": counts,
        "rows": [
            {"sheet": r.sheet, "row": r.row, "outcome": r.outcome, "target": r.target, "problems": r.problems}
            for r in report
        ],
    }


@router.post("/usecases/{usecase_id}/evidence", status_code=status.HTTP_201_CREATED)
async def publish_evidence(
    usecase_id: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    kind: Annotated[str, Form()],
    payload: Annotated[str, Form(description="a JSON object")] = "{}",
    producer: Annotated[str, Form()] = "manual",
    inputs: Annotated[str, Form(description="a JSON object of input name to fingerprint")] = "{}",
    url: Annotated[str | None, Form()] = None,
    attachment: Annotated[UploadFile | None, File()] = None,
) -> dict[str, Any]:
    """Publish evidence for a use case (multipart, so a file can go with it)."""
    parsed_payload, parsed_inputs = _json_object(payload, "payload"), _json_object(inputs, "inputs")
    attached = None
    if attachment is not None:
        attached = (attachment.filename or "attachment", await attachment.read())
    record = evidence_service.publish(
        session,
        actor=principal,
        usecase_id=usecase_id,
        kind=kind,
        producer=producer,
        payload=parsed_payload,
        inputs=parsed_inputs,
        url=url,
        attachment=attached,
    )
    session.commit()
    return evidence_service.summary(record)


def _json_object(text: str, field: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            "not valid JSON", [Problem(f"{exc.msg} at character {exc.pos}", field=field)]
        ) from exc
    if not isinstance(value, dict):
        raise InvalidInput("must be a JSON object", [Problem("expected {...}", field=field)])
    return value


@router.get("/usecases/{usecase_id}/evidence")
def list_evidence(
    usecase_id: str, session: SessionDep, principal: CurrentPrincipal, kind: str | None = None
) -> dict[str, Any]:
    """A use case's evidence, newest first."""
    principal.require(Action.read, usecase_id)
    records = evidence_service.get_all(session, usecase_id=usecase_id, kind=kind)
    return {"data": [evidence_service.summary(r) for r in records], "count": len(records)}


@router.get("/evidence/{evidence_id}")
def read_evidence(evidence_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """One evidence record, with whether its SHA-256 still matches."""
    record = evidence_service.get(session, evidence_id=evidence_id)
    principal.require(Action.read, record.usecase_id)
    return evidence_service.summary(record)


@router.get("/evidence/{evidence_id}/attachment", response_class=Response)
def read_evidence_attachment(evidence_id: str, session: SessionDep, principal: CurrentPrincipal) -> Response:
    """The file published with a piece of evidence."""
    record = evidence_service.get(session, evidence_id=evidence_id)
    principal.require(Action.read, record.usecase_id)
    if record.attachment is None:
        raise InvalidInput(f"evidence '{evidence_id}' has no attachment")
    headers = {"Content-Disposition": f'attachment; filename="{record.attachment_name}"'}
    return Response(content=record.attachment, media_type="application/octet-stream", headers=headers)


@router.get("/usecases/{usecase_id}/gate")
def check_gate(
    usecase_id: str, session: SessionDep, principal: CurrentPrincipal, phase: str | None = None
) -> dict[str, Any]:
    """Every criterion of a phase's gate: pass, fail or missing, with the evidence and value observed."""
    principal.require(Action.read, usecase_id)
    return gating.check(session, usecase_id=usecase_id, phase_id=phase).view()


class CriteriaChange(BaseModel):
    criteria: list[dict[str, Any]]
    phase: str | None = None


@router.put("/usecases/{usecase_id}/gate/criteria")
def change_criteria(
    usecase_id: str, body: CriteriaChange, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Replace a gate's criteria: a new, audited version; earlier sign-offs stop counting."""
    phase = gating.set_criteria(
        session, actor=principal, usecase_id=usecase_id, criteria=body.criteria, phase_id=body.phase
    )
    session.commit()
    return gating.check(session, usecase_id=usecase_id, phase_id=phase.phase_id).view()


class ApprovalBody(BaseModel):
    criterion: int
    approve: bool = True
    reason: str
    phase: str | None = None


@router.post("/usecases/{usecase_id}/gate/approvals", status_code=status.HTTP_201_CREATED)
def approve_criterion(
    usecase_id: str, body: ApprovalBody, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Sign off (or refuse) an approval criterion as the role it names."""
    gating.approve(
        session,
        actor=principal,
        usecase_id=usecase_id,
        criterion=body.criterion,
        approved=body.approve,
        reason=body.reason,
        phase_id=body.phase,
    )
    session.commit()
    return gating.check(session, usecase_id=usecase_id, phase_id=body.phase).view()


class DecisionBody(BaseModel):
    decision: str
    reason: str


@router.post("/usecases/{usecase_id}/gate/decisions", status_code=status.HTTP_201_CREATED)
def decide_gate(
    usecase_id: str, body: DecisionBody, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Record go, no-go or conditional at the current gate."""
    decision = gating.decide(
        session, actor=principal, usecase_id=usecase_id, decision=body.decision, reason=body.reason
    )
    session.commit()
    return gating.decision_view(decision)


class AdvanceBody(BaseModel):
    override_reason: str | None = Field(
        None, description="advance past a gate that has not passed (leads only)"
    )


@router.post("/usecases/{usecase_id}/phase/advance")
def advance_phase(
    usecase_id: str, body: AdvanceBody, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Move to the next phase: refused unless the gate passed or a permitted role overrides with a reason."""
    phase = gating.advance(
        session, actor=principal, usecase_id=usecase_id, override_reason=body.override_reason
    )
    session.commit()
    return {"usecase": usecase_id, "phase": plans.phase_view(phase)}
