"""The roadmap workbook of 200 use cases, 5 phases and 40 activities each: written, then read back."""

from __future__ import annotations

import time
from datetime import date, timedelta

from phasegate.lifecycle.workbook import STATUSES, ActivityRow, PhaseRow, read_workbook, write_workbook

USE_CASES = 200
PHASES = 5
ACTIVITIES = 40
EXPORT_TARGET_SECONDS = 5.0
IMPORT_TARGET_SECONDS = 10.0
FIRST_DAY = date(2026, 1, 5)


def portfolio_plan() -> tuple[list[PhaseRow], list[ActivityRow]]:
    """A year of work per use case, with starts staggered week by week across the portfolio."""
    phases: list[PhaseRow] = []
    activities: list[ActivityRow] = []
    per_phase = ACTIVITIES // PHASES
    for u in range(USE_CASES):
        usecase = f"usecase-{u:03d}"
        start = FIRST_DAY + timedelta(weeks=u % 26)
        for p in range(PHASES):
            phase_start = start + timedelta(weeks=10 * p)
            phases.append(
                PhaseRow(
                    usecase_id=usecase,
                    phase_id=f"phase-{p}",
                    phase=f"Phase {p + 1}",
                    description=f"Objectives of phase {p + 1} for {usecase}",
                    start=phase_start,
                    end=phase_start + timedelta(weeks=10, days=-3),
                    owner=f"owner.{u % 17}",
                    status=STATUSES[(u + p) % len(STATUSES)],
                    notes=None,
                )
            )
            for a in range(per_phase):
                number = len(activities) + 1
                planned = phase_start + timedelta(weeks=a)
                activities.append(
                    ActivityRow(
                        id=number,
                        usecase_id=usecase,
                        phase=f"Phase {p + 1}",
                        name=f"Activity {a + 1} of phase {p + 1}",
                        owner=f"person.{number % 23}",
                        planned_start=planned,
                        planned_end=planned + timedelta(days=11),
                        effort_hours=float(4 + number % 40),
                        status=STATUSES[number % len(STATUSES)],
                        dependencies=[str(number - 1)] if a else [],
                        notes="checked weekly" if a % 3 == 0 else None,
                    )
                )
    return phases, activities


def main() -> None:
    phases, activities = portfolio_plan()
    started = time.perf_counter()
    data = write_workbook(phases, activities)
    written = time.perf_counter()
    content = read_workbook(data, filename="benchmark.xlsx")
    read = time.perf_counter()
    assert content.problems == [] and len(content.activities) == len(activities), "the round trip lost rows"
    print(
        f"workbook: {USE_CASES} use cases x {ACTIVITIES} activities ({len(phases):,} phases, "
        f"{len(activities):,} activities, {len(data) / 1e6:.1f} MB): write {written - started:.2f} s, "
        f"read {read - written:.2f} s (targets: {EXPORT_TARGET_SECONDS:.0f} s export, "
        f"{IMPORT_TARGET_SECONDS:.0f} s import)"
    )


if __name__ == "__main__":
    main()
