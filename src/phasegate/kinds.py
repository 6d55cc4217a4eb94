"""Documents as code: the kinds `phasegate apply` takes, and the one route that applies them together.

Each part declares the kinds it owns; this module, like the application module, only composes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import ValidationError
from sqlalchemy.orm import Session

from phasegate.api import CurrentPrincipal, SessionDep
from phasegate.errors import InvalidInput, Problem
from phasegate.identity.service import Principal


@dataclass(frozen=True)
class Kind:
    """A kind of document: how to validate one, and how to create or update what it describes."""

    name: str
    parse: Callable[[dict[str, Any]], Any]
    apply: Callable[[Session, Principal, Any], str]
    id_of: Callable[[Any], str]


def all_kinds() -> dict[str, Kind]:
    """Every kind, by the name a document gives in `kind:`."""
    from phasegate.data import catalog, contracts
    from phasegate.lifecycle import library, playbooks
    from phasegate.portfolio import service as portfolio_service

    def apply_usecase(session: Session, actor: Principal, spec: Any) -> str:
        return portfolio_service.apply(session, actor=actor, spec=spec)[0]

    def apply_playbook(session: Session, actor: Principal, spec: Any) -> str:
        return library.apply_playbook(session, actor=actor, spec=spec)

    def apply_source(session: Session, actor: Principal, spec: Any) -> str:
        return catalog.apply_source(session, actor=actor, spec=spec)

    def apply_contract(session: Session, actor: Principal, spec: Any) -> str:
        return catalog.apply_contract(session, actor=actor, spec=spec)

    return {
        "UseCase": Kind("UseCase", portfolio_service.parse_spec, apply_usecase, lambda s: str(s.id)),
        "Playbook": Kind("Playbook", playbooks.parse_playbook, apply_playbook, lambda s: str(s.id)),
        "DataSource": Kind("DataSource", catalog.parse_source, apply_source, lambda s: str(s.id)),
        "DataContract": Kind("DataContract", contracts.parse_contract, apply_contract, lambda s: str(s.id)),
    }


def parse(document: dict[str, Any]) -> tuple[Kind, Any]:
    """The document's kind and its validated form; InvalidInput names the bad fields."""
    kinds = all_kinds()
    name = document.get("kind")
    if name not in kinds:
        raise InvalidInput(
            "unknown kind", [Problem(f"{name!r} is not one of: {', '.join(kinds)}", field="kind")]
        )
    kind = kinds[str(name)]
    try:
        return kind, kind.parse(document)
    except ValidationError as exc:  # a parser that lets pydantic's error through
        raise InvalidInput("not valid", [Problem(str(exc))]) from exc


router = APIRouter(tags=["documents"])


@router.post("/apply")
def apply_documents(
    session: SessionDep,
    principal: CurrentPrincipal,
    documents: Annotated[list[dict[str, Any]], Body(embed=True)],
) -> dict[str, Any]:
    """Create or update documents (use cases, playbooks) together: all are written, or none."""
    results = []
    # What a document refers to is applied first: use cases before the sources relying on them, and
    # sources before their contracts, whatever order the files came in.
    order = {name: rank for rank, name in enumerate(all_kinds())}
    ranked = sorted(enumerate(documents, start=1), key=lambda item: order.get(str(item[1].get("kind")), -1))
    for index, document in ranked:
        try:
            kind, spec = parse(document)
        except InvalidInput as exc:
            problems = [
                Problem(p.message, field=f"documents.{index}.{p.field}" if p.field else None)
                for p in exc.problems
            ]
            raise InvalidInput(f"document {index} is not valid; nothing was written", problems) from exc
        results.append(
            {"kind": kind.name, "id": kind.id_of(spec), "outcome": kind.apply(session, principal, spec)}
        )
    session.commit()
    return {"data": results}
