"""Rate limits per caller and monthly cost budgets per use case, enforced across replicas without the store
on the hot path.

Each replica counts its own requests in memory and, on every poll (0.2 s by default), adds them to the
store's per-minute counts and reads back the totals of every replica. A request is judged on the
totals as of the last poll plus what this replica has counted since, so the overshoot across N
replicas is bounded by what N replicas can admit between two polls. Limits are per calendar minute
(fixed windows, in UTC); budgets per calendar month.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from phasegate.errors import TooManyRequests
from phasegate.rollout.models import UsageCount


def minute_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def month_of(moment: datetime) -> datetime:
    return minute_of(moment).replace(day=1, hour=0, minute=0)


class UsageTracker:
    """One replica's view of usage: what it counted since the last sync, and everyone's totals then."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, datetime], list[float]] = defaultdict(lambda: [0, 0.0])
        self._since_sync: dict[tuple[str, str, datetime], int] = defaultdict(int)
        self._month_since_sync: dict[str, float] = defaultdict(float)
        self._minute_totals: dict[tuple[str, str, datetime], int] = {}
        self._month_totals: dict[tuple[str, datetime], float] = {}

    def check(
        self, usecase_id: str, caller: str, *, limit: int | None, budget: float | None, at: datetime
    ) -> None:
        """Refuse (429) when the caller's minute is used up or the use case's month has spent its budget."""
        minute = minute_of(at)
        with self._lock:
            if limit is not None:
                used = self._minute_totals.get((usecase_id, caller, minute), 0)
                used += self._since_sync.get((usecase_id, caller, minute), 0)
                if used >= limit:
                    raise TooManyRequests(
                        f"{caller} made {used} requests to '{usecase_id}' this minute; the limit is {limit}"
                    )
            if budget is not None:
                spent = self._month_totals.get((usecase_id, month_of(at)), 0.0)
                spent += self._month_since_sync.get(usecase_id, 0.0)
                if spent >= budget:
                    raise TooManyRequests(
                        f"'{usecase_id}' has spent {spent:.2f} of its monthly budget of {budget:.2f}"
                    )

    def add(self, usecase_id: str, caller: str, cost: float, *, at: datetime) -> None:
        """Count one request and its cost."""
        key = (usecase_id, caller, minute_of(at))
        with self._lock:
            pending = self._pending[key]
            pending[0] += 1
            pending[1] += cost
            self._since_sync[key] += 1
            self._month_since_sync[usecase_id] += cost

    def sync(self, session: Session, *, at: datetime) -> None:
        """Add this replica's counts to the store and read back every replica's totals."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(lambda: [0, 0.0])
        if pending:
            rows = [
                {"usecase_id": u, "caller": c, "minute": m, "requests": int(v[0]), "cost": float(v[1])}
                for (u, c, m), v in pending.items()
            ]
            _add_counts(session, rows)
            session.commit()
        minute, month = minute_of(at), month_of(at)
        minute_totals = {
            (u, c, minute): int(n)
            for u, c, n in session.execute(
                select(UsageCount.usecase_id, UsageCount.caller, UsageCount.requests).where(
                    UsageCount.minute == minute
                )
            )
        }
        month_totals = {
            (u, month): float(cost or 0.0)
            for u, cost in session.execute(
                select(UsageCount.usecase_id, func.sum(UsageCount.cost))
                .where(UsageCount.minute >= month)
                .group_by(UsageCount.usecase_id)
            )
        }
        with self._lock:
            self._minute_totals, self._month_totals = minute_totals, month_totals
            # What was counted before the sync is in the totals now; only what came since stays local.
            for key, value in pending.items():
                left = self._since_sync.get(key, 0) - int(value[0])
                if left > 0:
                    self._since_sync[key] = left
                else:
                    self._since_sync.pop(key, None)
                self._month_since_sync[key[0]] = max(0.0, self._month_since_sync.get(key[0], 0.0) - value[1])
            for key in [k for k in self._since_sync if k[2] < minute]:
                del self._since_sync[key]


def _add_counts(session: Session, rows: list[dict[str, Any]]) -> None:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(UsageCount).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["usecase_id", "caller", "minute"],
        set_={
            "requests": UsageCount.requests + statement.excluded.requests,
            "cost": UsageCount.cost + statement.excluded.cost,
        },
    )
    session.execute(statement)
