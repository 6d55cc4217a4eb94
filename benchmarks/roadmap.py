"""The roadmap workbook end to end from the store: 200 planned use cases x 40 activities each."""

from __future__ import annotations

import tempfile
import time
from datetime import date, timedelta

from phasegate.identity.service import local_operator
from phasegate.lifecycle import plans, roadmap
from phasegate.lifecycle.models import Activity
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.schemas import UseCaseSpec
from phasegate.store import Store, upgrade

USE_CASES, ACTIVITIES = 200, 40


def seed(store: Store) -> None:
    operator = local_operator("bench")
    with store.transaction() as session:
        for n in range(USE_CASES):
            usecase_id = f"uc-{n:03d}"
            spec = UseCaseSpec(id=usecase_id, name=f"Use case {n}", owners={"use_case": f"owner{n % 17}"})
            portfolio_service.create(session, actor=operator, spec=spec)
            plan = plans.start(
                session,
                actor=operator,
                usecase_id=usecase_id,
                playbook_id="five-phase",
                start_on=date(2026, 1, 5) + timedelta(days=n % 60),
            )
            phases = [p.phase_id for p in plan.phases]
            for k in range(len(plan.activities), ACTIVITIES):
                start = plan.start + timedelta(days=3 * k)
                plan.activities.append(
                    Activity(
                        phase_id=phases[k % len(phases)],
                        position=k,
                        name=f"Extra activity {k}",
                        owner="team",
                        planned_start=start,
                        planned_end=start + timedelta(days=5),
                        effort_hours=8.0,
                        status="not started",
                        depends_on=[],
                    )
                )
            session.flush()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        upgrade(url)
        store = Store(url)
        seed(store)
        with store.session() as session:
            began = time.perf_counter()
            data = roadmap.export_workbook(session, filters=roadmap.RoadmapFilters())
            exported = time.perf_counter() - began
        with store.transaction() as session:
            began = time.perf_counter()
            report = roadmap.import_workbook(
                session, actor=local_operator("bench"), data=data, filename="r.xlsx"
            )
            imported = time.perf_counter() - began
        store.dispose()
    unchanged = sum(1 for r in report if r.outcome == "unchanged")
    print(
        f"roadmap from the store: {USE_CASES} use cases x {ACTIVITIES} activities: export {exported:.2f} s "
        f"(target 5 s), import {imported:.2f} s (target 10 s), {unchanged:,} rows unchanged"
    )


if __name__ == "__main__":
    main()
