"""The portfolio's table: one row per use case, its whole definition of done kept as a document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from phasegate.store import Base, now


class UseCase(Base):
    """A use case. ``document`` is the canonical definition of done; the columns copy what lists filter on."""

    __tablename__ = "usecases"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), index=True)
    business_unit: Mapped[str | None] = mapped_column(Text, index=True)
    risk_tier: Mapped[str | None] = mapped_column(String(20), index=True)
    owner: Mapped[str | None] = mapped_column(Text)
    technical_owner: Mapped[str | None] = mapped_column(Text)
    risk_owner: Mapped[str | None] = mapped_column(Text)
    domain_reviewer: Mapped[str | None] = mapped_column(Text)
    # Empty until the lifecycle attaches a playbook and starts a phase.
    current_phase: Mapped[str | None] = mapped_column(String(80))
    document: Mapped[dict[str, Any]]
    revision: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)
