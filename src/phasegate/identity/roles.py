"""Roles and what each may do: the one table every door checks against."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    program_lead = "program-lead"
    use_case_owner = "use-case-owner"
    technical_owner = "technical-owner"
    risk_owner = "risk-owner"
    reviewer = "reviewer"
    viewer = "viewer"


# The owner fields of a use case name people; each grants that person a role on it.
OWNER_FIELD_ROLES: dict[str, Role] = {
    "use_case": Role.use_case_owner,
    "technical": Role.technical_owner,
    "risk": Role.risk_owner,
    "domain_reviewer": Role.reviewer,
}

_ALIASES = {
    "program_lead": Role.program_lead,
    "use_case_owner": Role.use_case_owner,
    "use_case": Role.use_case_owner,
    "owner": Role.use_case_owner,
    "technical_owner": Role.technical_owner,
    "technical": Role.technical_owner,
    "risk_owner": Role.risk_owner,
    "risk": Role.risk_owner,
    "domain_reviewer": Role.reviewer,
}


def parse_role(text: str) -> Role:
    """A role from its name or a common alias (``risk`` for ``risk-owner``)."""
    key = text.strip().lower()
    try:
        return Role(key)
    except ValueError:
        pass
    if key in _ALIASES:
        return _ALIASES[key]
    names = ", ".join(r.value for r in Role)
    raise ValueError(f"unknown role '{text}'; roles are: {names}")


class Action(StrEnum):
    """Everything a caller can ask for, by the permission it needs."""

    read = "read"
    usecase_create = "usecase.create"
    usecase_update = "usecase.update"
    usecase_delete = "usecase.delete"
    usecase_import = "usecase.import"
    user_manage = "user.manage"
    audit_read = "audit.read"
    playbook_manage = "playbook.manage"
    plan_edit = "plan.edit"
    evidence_publish = "evidence.publish"
    gate_criteria = "gate.criteria"
    gate_decide = "gate.decide"
    phase_advance = "phase.advance"
    phase_override = "phase.override"
    data_manage = "data.manage"
    data_audit = "data.audit"
    model_manage = "model.manage"
    model_approve = "model.approve"
    evaluation_run = "evaluation.run"
    replay_review = "replay.review"
    rollout_manage = "rollout.manage"
    rollout_kill = "rollout.kill"
    gateway_call = "gateway.call"
    review_decide = "review.decide"


_EDITORS = {Role.admin, Role.program_lead, Role.use_case_owner, Role.technical_owner, Role.risk_owner}

# A global grant applies to every use case; a grant on a use case only to that one.
# Actions not tied to one use case (create, import, user management) need a global grant.
PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.read: frozenset(Role),
    Action.usecase_create: frozenset({Role.admin, Role.program_lead, Role.use_case_owner}),
    Action.usecase_update: frozenset(_EDITORS),
    Action.usecase_delete: frozenset({Role.admin, Role.program_lead}),
    Action.usecase_import: frozenset({Role.admin, Role.program_lead}),
    Action.user_manage: frozenset({Role.admin}),
    Action.audit_read: frozenset({Role.admin, Role.program_lead, Role.risk_owner}),
    Action.playbook_manage: frozenset({Role.admin, Role.program_lead}),
    Action.plan_edit: frozenset({Role.admin, Role.program_lead, Role.use_case_owner, Role.technical_owner}),
    Action.evidence_publish: frozenset(_EDITORS),
    # Changing thresholds after they were frozen is the move a gate exists to expose: leads only, audited.
    Action.gate_criteria: frozenset({Role.admin, Role.program_lead}),
    Action.gate_decide: frozenset({Role.admin, Role.program_lead, Role.use_case_owner}),
    Action.phase_advance: frozenset({Role.admin, Role.program_lead, Role.use_case_owner}),
    Action.phase_override: frozenset({Role.admin, Role.program_lead}),
    # The catalog and contracts are the data engineers' (technical owners') and the leads'.
    Action.data_manage: frozenset({Role.admin, Role.program_lead, Role.technical_owner}),
    Action.data_audit: frozenset({Role.admin, Role.program_lead, Role.technical_owner, Role.risk_owner}),
    # Model versions are the ML engineers' (technical owners') to register and evaluate; approving one
    # for use is a judgement for the people accountable for the outcome and its risk.
    Action.model_manage: frozenset({Role.admin, Role.program_lead, Role.technical_owner}),
    Action.model_approve: frozenset({Role.admin, Role.program_lead, Role.use_case_owner, Role.risk_owner}),
    Action.evaluation_run: frozenset({Role.admin, Role.program_lead, Role.technical_owner}),
    # Rubric review of replayed answers is domain work; the owners may review too.
    Action.replay_review: frozenset(
        {Role.admin, Role.program_lead, Role.use_case_owner, Role.risk_owner, Role.reviewer}
    ),
    # Moving traffic is the owners' and the leads'; stopping it is open to everyone accountable for harm.
    Action.rollout_manage: frozenset(
        {Role.admin, Role.program_lead, Role.use_case_owner, Role.technical_owner}
    ),
    Action.rollout_kill: frozenset(
        {Role.admin, Role.program_lead, Role.use_case_owner, Role.technical_owner, Role.risk_owner}
    ),
    # Any authenticated caller may ask the gateway; what it may see is the use case's policy.
    Action.gateway_call: frozenset(Role),
    Action.review_decide: frozenset({Role.admin, Role.program_lead, Role.use_case_owner, Role.reviewer}),
}


def allowed(action: Action, roles: set[Role]) -> bool:
    """Whether any of these roles permits the action."""
    return bool(PERMISSIONS[action] & roles)
