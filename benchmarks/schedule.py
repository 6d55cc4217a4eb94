"""The critical path of a large plan: 10,000 activities and 20,000 dependencies within 200 ms."""

from __future__ import annotations

import random
import time
from datetime import date

from phasegate.lifecycle.schedule import Task, critical_path_schedule

ACTIVITIES = 10_000
LINKS = 20_000
TARGET_MS = 200
RUNS = 5
SEED = 20240601


def network(activities: int = ACTIVITIES, links: int = LINKS, seed: int = SEED) -> list[Task]:
    """A random plan without loops: links only run from a lower to a higher number, listed shuffled."""
    rng = random.Random(seed)
    edges: set[tuple[int, int]] = set()
    while len(edges) < links:
        later = rng.randrange(1, activities)
        edges.add((rng.randrange(later), later))
    depends_on: list[list[str]] = [[] for _ in range(activities)]
    for earlier, later in sorted(edges):
        depends_on[later].append(f"a{earlier}")
    tasks = [
        Task(
            id=f"a{i}",
            name=f"Activity {i}",
            phase=f"phase {i * 6 // activities + 1}",
            duration_days=rng.randrange(0, 15),
            depends_on=tuple(depends_on[i]),
        )
        for i in range(activities)
    ]
    rng.shuffle(tasks)  # so the sort has real work to do, not an input already in order
    return tasks


def best_of(runs: int, tasks: list[Task], start: date) -> float:
    """The fastest of the runs, in seconds: the others measure the machine's other work."""
    best = float("inf")
    for _ in range(runs):
        began = time.perf_counter()
        critical_path_schedule(tasks, start=start)
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    """Time the schedule of the large plan and print it against the target."""
    tasks = network()
    links = sum(len(t.depends_on) for t in tasks)
    ms = best_of(RUNS, tasks, date(2025, 1, 6)) * 1000
    print(f"schedule: {len(tasks):,} activities, {links:,} links: {ms:.0f} ms (target {TARGET_MS} ms)")
