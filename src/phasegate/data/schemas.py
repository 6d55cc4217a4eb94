"""A data source as a document: the catalog entry, as YAML (`kind: DataSource`), JSON and API body."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_validator

from phasegate.portfolio.schemas import Strict

SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
LAG = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$")
Classification = Literal["public", "internal", "confidential", "restricted"]
CLASSIFICATIONS: tuple[Classification, ...] = ("public", "internal", "confidential", "restricted")


def parse_lag(text: str) -> timedelta:
    """A duration as people write it in contracts: 90m, 26h, 3d, 2w."""
    match = LAG.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a duration; write e.g. 90m, 26h, 3d or 2w")
    value, unit = float(match.group(1)), match.group(2)
    minutes = {"m": 1, "min": 1, "h": 60, "d": 1440, "w": 10080}[unit]
    return timedelta(minutes=value * minutes)


class LineageStep(Strict):
    """Where this source's data comes from: another node, and what was done to it on the way."""

    upstream: str = Field(description="source:ID, dataset:NAME or a free name")
    transformation: str = ""


class DataSourceSpec(Strict):
    """A catalog entry. Only id and location are needed to start."""

    kind: Literal["DataSource"] = "DataSource"
    id: str
    name: str | None = None
    location: str = Field(
        description="a file or folder, duckdb:FILE#table, sqlite:FILE#table, postgresql://...#table"
    )
    system: str | None = None
    owner: str | None = None
    access: str | None = Field(None, description="how the data is reached: read replica, export, API ...")
    update_frequency: str | None = None
    volume: str | None = None
    format: str | None = None
    classification: Classification | None = None
    pii: list[str] = Field(
        default_factory=list, description="kinds of personal data it holds: email, phone ..."
    )
    freshness_target: str | None = Field(None, description="how old the newest record may be: 26h, 3d ...")
    encoding: str | None = Field(None, description="the text encoding of CSV files, when not UTF-8")
    usecases: list[str] = Field(default_factory=list, description="the use cases that rely on this source")
    lineage: list[LineageStep] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not SOURCE_ID.match(value):
            raise ValueError("must be 1-80 lower-case letters, digits, hyphens or underscores")
        return value

    @field_validator("freshness_target")
    @classmethod
    def _lag(cls, value: str | None) -> str | None:
        if value is not None:
            parse_lag(value)
        return value

    def document(self) -> dict[str, Any]:
        """The canonical form: what is stored, exported and compared; empty values left out."""
        dumped: dict[str, Any] = self.model_dump(mode="json", exclude_none=True)
        return {k: v for k, v in dumped.items() if v not in ([], {})}
