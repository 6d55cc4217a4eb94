"""Model versions: register, find, approve, and the model card written from what phasegate knows."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from phasegate import outbound
from phasegate.data import audits as data_audits
from phasegate.data import catalog
from phasegate.errors import Conflict, InvalidInput, NotFound, Problem
from phasegate.evaluation.models import EvaluationRun, ModelVersion
from phasegate.evaluation.schemas import CARD_SECTIONS, SEMVER, MlflowImport, ModelVersionSpec
from phasegate.identity import audit
from phasegate.identity.audit import Change
from phasegate.identity.roles import Action
from phasegate.identity.service import Principal
from phasegate.portfolio import service as portfolio_service
from phasegate.store import now


def require(session: Session, actor: Principal, action: Action, usecase_id: str) -> None:
    """Refuse unless the caller's global or use-case roles (owner fields included) permit the action."""
    usecase = portfolio_service.get(session, usecase_id=usecase_id)
    actor.require(action, usecase_id, portfolio_service.ownership_roles(usecase, actor))


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks so a large artifact never sits in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def local_path(uri: str | None) -> Path | None:
    """The file a URI names on this machine, if it names one."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme in ("", "c", "d") or len(parsed.scheme) == 1:  # a plain path, also on Windows
        return Path(uri).expanduser()
    return None


def version_view(version: ModelVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "usecase": version.usecase_id,
        "name": version.name,
        "version": version.version,
        "kind": version.kind,
        "uri": version.uri,
        "trusted": version.trusted,
        "artifact_sha256": version.artifact_sha256,
        "training_data": version.training_data,
        "training_fingerprint": version.training_fingerprint,
        "training_audit": version.training_audit_id,
        "parameters": version.parameters,
        "metrics": version.metrics,
        "tags": version.tags,
        "status": version.status,
        "status_reason": version.status_reason,
        "origin": version.origin,
        "created_by": version.created_by,
        "created_at": version.created_at.isoformat(),
    }


def register(
    session: Session,
    *,
    actor: Principal,
    usecase_id: str,
    spec: ModelVersionSpec,
    origin: str = "registered",
    outbound_hosts: Sequence[str] | None = None,
) -> ModelVersion:
    """Register a version; its training data's fingerprint comes from that source's newest audit.

    An HTTP or OpenAI-compatible version must be at a host `outbound_hosts` names, when it is set.
    """
    require(session, actor, Action.model_manage, usecase_id)
    problems = []
    if spec.kind in ("python", "http", "openai") and not spec.uri:
        problems.append(Problem(f"a {spec.kind} model needs a uri", field="uri"))
    if spec.kind in ("http", "openai") and spec.uri:
        refused = outbound.problem(spec.uri, outbound_hosts, field="uri")
        if refused is not None:
            problems.append(refused)
    artifact = None
    path = local_path(spec.uri) if spec.kind == "python" else None
    if path is not None:
        if not path.is_file():
            problems.append(Problem(f"no model file at {path}", field="uri"))
        else:
            artifact = file_sha256(path)
    training_fingerprint = training_audit = None
    if spec.training_data:
        try:
            catalog.get_source(session, source_id=spec.training_data)
        except NotFound:
            problems.append(
                Problem(f"no data source '{spec.training_data}' in the catalog", field="training_data")
            )
        else:
            history = data_audits.audits_of(session, source_id=spec.training_data)
            if history:
                training_audit = history[0].id
                training_fingerprint = history[0].summary.get("fingerprint")
    if problems:
        raise InvalidInput("the model version is not valid; nothing was written", problems)
    duplicate = session.scalar(
        select(ModelVersion).where(
            ModelVersion.usecase_id == usecase_id,
            ModelVersion.name == spec.name,
            ModelVersion.version == spec.version,
        )
    )
    if duplicate is not None:
        raise Conflict(
            f"{spec.name} {spec.version} is already registered for '{usecase_id}'; "
            "a version is immutable, register the next one"
        )
    version = ModelVersion(
        id="mv-" + secrets.token_hex(6),
        usecase_id=usecase_id,
        name=spec.name,
        version=spec.version,
        kind=spec.kind,
        uri=spec.uri,
        trusted=spec.trusted,
        artifact_sha256=artifact,
        training_data=spec.training_data,
        training_fingerprint=training_fingerprint,
        training_audit_id=training_audit,
        parameters=spec.parameters,
        metrics=spec.metrics,
        tags=spec.tags,
        card={},
        origin=origin,
        created_by=actor.name,
    )
    session.add(version)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "model.register", "model_version", version.id, after=version_view(version), usecase_id=usecase_id
        ),
    )
    return version


def list_versions(session: Session, *, usecase_id: str | None = None) -> Sequence[ModelVersion]:
    """Model versions, newest first, of one use case or all."""
    query = select(ModelVersion).order_by(ModelVersion.created_at.desc(), ModelVersion.id)
    if usecase_id is not None:
        portfolio_service.get(session, usecase_id=usecase_id)
        query = query.where(ModelVersion.usecase_id == usecase_id)
    return session.scalars(query).all()


def get_version(session: Session, *, usecase_id: str, reference: str) -> ModelVersion:
    """A use case's version by id, NAME@VERSION or VERSION (when one model has it)."""
    portfolio_service.get(session, usecase_id=usecase_id)
    query = select(ModelVersion).where(ModelVersion.usecase_id == usecase_id)
    if reference.startswith("mv-"):
        found = session.scalars(query.where(ModelVersion.id == reference)).all()
    elif "@" in reference:
        name, _, number = reference.partition("@")
        found = session.scalars(query.where(ModelVersion.name == name, ModelVersion.version == number)).all()
    else:
        found = session.scalars(query.where(ModelVersion.version == reference)).all()
    if not found:
        raise NotFound(f"use case '{usecase_id}' has no model version '{reference}'")
    if len(found) > 1:
        names = ", ".join(f"{v.name}@{v.version}" for v in found)
        raise InvalidInput(f"'{reference}' is ambiguous", [Problem(f"say which: {names}", field="model")])
    return found[0]


def set_status(
    session: Session, *, actor: Principal, version: ModelVersion, status: str, reason: str | None
) -> ModelVersion:
    """Approve, reject or retire a version; the reason is kept and audited."""
    require(session, actor, Action.model_approve, version.usecase_id)
    if status in ("rejected", "retired") and not reason:
        raise InvalidInput("say why", [Problem(f"a version {status} needs a reason", field="reason")])
    before = {"status": version.status, "reason": version.status_reason}
    version.status = status
    version.status_reason = reason
    version.updated_at = now()
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "model.status",
            "model_version",
            version.id,
            before=before,
            after={"status": status, "reason": reason},
            usecase_id=version.usecase_id,
        ),
    )
    return version


def edit_card(
    session: Session, *, actor: Principal, version: ModelVersion, sections: dict[str, str]
) -> ModelVersion:
    """Write sections of the card over the generated ones; an empty text gives a section back."""
    require(session, actor, Action.model_manage, version.usecase_id)
    before = dict(version.card)
    card = dict(version.card)
    for name, text in sections.items():
        if text.strip():
            card[name] = text.strip()
        else:
            card.pop(name, None)
    version.card = card
    version.updated_at = now()
    audit.record(
        session,
        actor=actor.name,
        change=Change(
            "model.card",
            "model_version",
            version.id,
            before=before,
            after=card,
            usecase_id=version.usecase_id,
        ),
    )
    return version


def newest_run(session: Session, *, version: ModelVersion) -> EvaluationRun | None:
    return session.scalars(
        select(EvaluationRun)
        .where(EvaluationRun.model_version_id == version.id)
        .order_by(EvaluationRun.created_at.desc())
        .limit(1)
    ).first()


def card_sections(session: Session, *, version: ModelVersion) -> dict[str, dict[str, Any]]:
    """Each section's text and whether a person wrote it; generated from the use case, data and runs."""
    usecase = portfolio_service.spec_of(portfolio_service.get(session, usecase_id=version.usecase_id))
    run = newest_run(session, version=version)
    generated = {
        "model_details": _details(version),
        "intended_use": _intended_use(usecase),
        "training_data": _training(version),
        "evaluation": _evaluation(run),
        "limitations": _limitations(usecase, run),
        "owners": _owners(usecase),
    }
    return {
        name: {"text": version.card.get(name, generated[name]), "edited": name in version.card}
        for name in CARD_SECTIONS
    }


READING_ORDER = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
    "ece",
    "mae",
    "rmse",
    "mape",
    "precision_at_k",
    "recall_at_k",
    "mrr",
    "ndcg_at_k",
)

TITLES = {
    "model_details": "Model details",
    "intended_use": "Intended use",
    "training_data": "Training data",
    "evaluation": "Evaluation",
    "limitations": "Limitations",
    "owners": "Owners",
}


def card_markdown(session: Session, *, version: ModelVersion) -> str:
    """The model card as Markdown, for a repository or a review pack."""
    sections = card_sections(session, version=version)
    lines = [f"# Model card: {version.label}", ""]
    for name in CARD_SECTIONS:
        lines += [f"## {TITLES[name]}", "", sections[name]["text"], ""]
    lines.append(f"_Use case `{version.usecase_id}`; status {version.status}; generated by phasegate._")
    return "\n".join(lines) + "\n"


def _details(version: ModelVersion) -> str:
    lines = [
        f"- Name: {version.name}",
        f"- Version: {version.version}",
        f"- Kind: {version.kind}",
        f"- Location: {version.uri or 'not given'}",
        f"- Status: {version.status}" + (f" ({version.status_reason})" if version.status_reason else ""),
        f"- Registered by {version.created_by} on {version.created_at:%Y-%m-%d} ({version.origin})",
    ]
    if version.artifact_sha256:
        lines.append(f"- Artifact: {version.artifact_sha256}")
    if version.parameters:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(version.parameters.items())[:12])
        lines.append(f"- Parameters: {shown}")
    return "\n".join(lines)


def _intended_use(usecase: Any) -> str:
    parts = [f"Use case: {usecase.name} (`{usecase.id}`)."]
    if usecase.workflow:
        parts.append(f"Workflow: {usecase.workflow}.")
    if usecase.user_group:
        parts.append(f"Used by: {usecase.user_group}.")
    if usecase.task_boundary:
        parts.append(f"Task boundary: {usecase.task_boundary}.")
    if usecase.risk.autonomy:
        parts.append(f"Autonomy: {usecase.risk.autonomy.value.replace('_', ' ')}.")
    kpi = usecase.kpis.primary
    if kpi is not None:
        parts.append(
            f"It is meant to move {kpi.name} from {kpi.baseline if kpi.baseline is not None else '?'} "
            f"to {kpi.target if kpi.target is not None else '?'}{(' ' + kpi.unit) if kpi.unit else ''}."
        )
    return " ".join(parts)


def _training(version: ModelVersion) -> str:
    if not version.training_data:
        return "Not recorded: register the version with its training data source."
    text = f"Data source `{version.training_data}`"
    if version.training_fingerprint:
        text += f", fingerprint {version.training_fingerprint} (data audit {version.training_audit_id})"
    else:
        text += "; no data audit yet, so its fingerprint is unknown"
    return text + "."


def _evaluation(run: EvaluationRun | None) -> str:
    if run is None:
        return "Not evaluated yet."
    lines = [f"Newest run {run.id} on `{run.source_id}`, {run.rows:,} records, {run.created_at:%Y-%m-%d}:"]
    found = run.performance.get("metrics", {})
    # Stored JSON may come back with its keys sorted: put them back in reading order.
    order = [m for m in READING_ORDER if m in found] + sorted(set(found) - set(READING_ORDER))
    for name in order:
        estimate = found[name]
        lines.append(
            f"- {name}: {estimate['value']:.3f} (95 % interval {estimate['ci_low']:.3f} "
            f"to {estimate['ci_high']:.3f})"
        )
    if run.comparison:
        lines.append(f"- Against the baseline: {run.comparison.get('summary', '')}")
    if run.fairness:
        largest = run.fairness.get("max_disparity")
        lines.append(
            "- Largest disparity between segments: "
            + ("none to judge" if largest is None else f"{largest:.3f}")
        )
    return "\n".join(lines)


def _limitations(usecase: Any, run: EvaluationRun | None) -> str:
    notes = []
    if usecase.error_budget:
        notes.append(f"Error budget: {usecase.error_budget}.")
    if usecase.stop_rule:
        notes.append(f"Stop rule: {usecase.stop_rule}.")
    if run is not None and run.fairness:
        small = [
            f"{attribute}={group}"
            for attribute, detail in run.fairness.get("attributes", {}).items()
            for group, values in detail.get("groups", {}).items()
            if values.get("too_small")
        ]
        if small:
            notes.append("Too few records to judge: " + ", ".join(small) + ".")
    notes.append("Not evaluated outside the data named above.")
    return " ".join(notes)


def _owners(usecase: Any) -> str:
    owners = usecase.owners
    return "\n".join(
        f"- {label}: {getattr(owners, field) or 'not named'}"
        for field, label in (
            ("use_case", "Use-case owner"),
            ("technical", "Technical owner"),
            ("risk", "Risk owner"),
            ("domain_reviewer", "Domain reviewer"),
        )
    )


def import_mlflow(
    session: Session, *, actor: Principal, usecase_id: str, request: MlflowImport
) -> ModelVersion:
    """Register a version from MLflow: its version, metrics, parameters and tags (needs the mlflow extra)."""
    require(session, actor, Action.model_manage, usecase_id)
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise InvalidInput(
            "MLflow is not installed", [Problem("pip install 'phasegate[mlflow]'", field="tracking_uri")]
        ) from exc
    from mlflow.exceptions import MlflowException

    try:
        client = MlflowClient(tracking_uri=request.tracking_uri, registry_uri=request.tracking_uri)
        found = _mlflow_model(client, request.model_uri)
    except MlflowException as exc:
        raise InvalidInput(
            "MLflow could not be read; nothing was written",
            [Problem(exc.message.splitlines()[0], field="tracking_uri")],
        ) from exc
    name = request.name or found["name"]
    number = request.version or found["version"]
    if not SEMVER.match(number):
        number = f"{number}.0.0" if number.isdigit() else number
    try:
        spec = ModelVersionSpec(
            name=name,
            version=number,
            kind=request.kind or ("python" if found["pickle"] else "predictions"),
            uri=found["pickle"] or request.model_uri,
            parameters=found["params"],
            metrics=found["metrics"],
            tags=found["tags"],
        )
    except ValidationError as exc:
        raise InvalidInput(
            "the MLflow model does not make a valid version; nothing was written",
            portfolio_service.problems_from(exc),
        ) from exc
    return register(
        session,
        actor=actor,
        usecase_id=usecase_id,
        spec=spec,
        origin=f"mlflow {request.model_uri} at {request.tracking_uri}",
    )


def _mlflow_model(client: Any, model_uri: str) -> dict[str, Any]:
    """Name, version, run data and the local pickle (scikit-learn flavour) of an MLflow model URI."""
    from mlflow.exceptions import MlflowException

    parsed = urlparse(model_uri)
    parts = [p for p in (parsed.netloc + parsed.path).split("/") if p]
    try:
        if parsed.scheme == "models" and len(parts) == 2:
            registered = client.get_model_version(parts[0], parts[1])
            run_id, name, number = registered.run_id, parts[0], str(registered.version)
            source = registered.source
        elif parsed.scheme == "runs" and parts:
            run_id, name, number = parts[0], "/".join(parts[1:]) or "model", "1"
            source = None
        else:
            raise InvalidInput(
                "not an MLflow model URI",
                [Problem("use models:/NAME/VERSION or runs:/RUN_ID/PATH", field="model_uri")],
            )
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise NotFound(f"MLflow has no model at {model_uri}: {exc.message}") from exc
    artifact_path = "/".join(parts[1:]) if parsed.scheme == "runs" else _artifact_in(source, run_id)
    # Only a model in a local artifact store is linked: a pickle fetched into a temporary folder
    # would vanish, and phasegate does not copy artifacts.
    root = local_path(run.info.artifact_uri)
    pickle = (root / (artifact_path or "model") / "model.pkl") if root is not None else None
    return {
        "name": name,
        "version": number,
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
        "pickle": str(pickle) if pickle is not None and pickle.is_file() else None,
    }


def _artifact_in(source: str | None, run_id: str) -> str | None:
    """The artifact path inside a run from a registered version's source URI."""
    if not source:
        return None
    marker = f"{run_id}/artifacts/"
    if marker in source:
        return source.split(marker, 1)[1]
    if source.startswith("runs:/"):
        return "/".join(source[len("runs:/") :].split("/")[1:]) or None
    return None
