"""The schedule of a plan's activities: their order, critical path, forecast and effort by phase.

Dependencies are finish-to-start: an activity starts no earlier than every activity it depends
on has finished. Durations are calendar days, so an activity starting on day s finishes on day
s + duration, and a milestone (duration 0) finishes the day it starts.

Critical path method (Kelley & Walker, 1959):
  earliest start  = max(plan start, own planned start, earliest finish of each predecessor)
  earliest finish = earliest start + duration
  latest finish   = min(latest start of each successor), or the project finish for the last ones
  latest start    = latest finish - duration
  total float     = latest start - earliest start; an activity is critical when its float is 0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from heapq import heappop, heappush

from phasegate.errors import InvalidInput

NOT_STARTED = "not started"
IN_PROGRESS = "in progress"
COMPLETED = "completed"
BLOCKED = "blocked"
STATUSES = (NOT_STARTED, IN_PROGRESS, COMPLETED, BLOCKED)


@dataclass(frozen=True)
class Task:
    """One activity of a plan, as planned and as it went so far."""

    id: str
    name: str
    phase: str
    duration_days: int
    depends_on: tuple[str, ...] = ()
    planned_start: date | None = None
    planned_end: date | None = None
    actual_start: date | None = None
    actual_end: date | None = None
    status: str = NOT_STARTED
    effort_hours: float | None = None
    owner: str | None = None

    def __post_init__(self) -> None:
        if self.duration_days < 0:
            raise InvalidTask(self.id, "duration_days", f"is {self.duration_days}; it must be 0 or more")
        if self.status not in STATUSES:
            raise InvalidTask(
                self.id, "status", f"is '{self.status}'; it must be one of {', '.join(STATUSES)}"
            )

    @property
    def planned_finish(self) -> date | None:
        """The planned end, or the planned start plus the duration when only the start is planned."""
        if self.planned_end is not None:
            return self.planned_end
        if self.planned_start is not None:
            return self.planned_start + timedelta(days=self.duration_days)
        return None


# The errors are InvalidInput so the API and the CLI report them like any other bad input.


class InvalidTask(InvalidInput):
    """An activity with a value no schedule can use."""

    def __init__(self, task_id: str, field: str, problem: str) -> None:
        self.task_id, self.field = task_id, field
        super().__init__(f"activity '{task_id}': {field} {problem}")


class DuplicateTask(InvalidInput):
    """Two activities with the same id, so a dependency on it would be ambiguous."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(f"more than one activity has the id '{task_id}'")


class UnknownDependency(InvalidInput):
    """An activity depends on an id that is not among the plan's activities."""

    def __init__(self, task_id: str, missing: str) -> None:
        self.task_id, self.missing = task_id, missing
        super().__init__(f"activity '{task_id}' depends on '{missing}', which is not in the plan")


class DependencyCycle(InvalidInput):
    """Activities that depend on each other in a loop, so none of them can start first."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(
            "activities depend on each other in a loop: "
            + " → ".join(cycle)
            + " (each must finish before the next can start)"
        )


@dataclass(frozen=True)
class _Network:
    """Each activity's predecessors and successors, as positions in the input."""

    predecessors: list[list[int]]
    successors: list[list[int]]


def _network(tasks: Sequence[Task]) -> _Network:
    index: dict[str, int] = {}
    for i, task in enumerate(tasks):
        if index.setdefault(task.id, i) != i:
            raise DuplicateTask(task.id)
    predecessors: list[list[int]] = [[] for _ in tasks]
    successors: list[list[int]] = [[] for _ in tasks]
    for i, task in enumerate(tasks):
        for dependency in task.depends_on:
            p = index.get(dependency)
            if p is None:
                raise UnknownDependency(task.id, dependency)
            predecessors[i].append(p)
            successors[p].append(i)
    return _Network(predecessors, successors)


def _order(tasks: Sequence[Task], network: _Network) -> list[int]:
    # Kahn's algorithm with a heap of input positions, so that of the activities ready at each
    # step the one listed first goes first: the same plan always comes out in the same order.
    waiting = [len(p) for p in network.predecessors]
    ready = [i for i, count in enumerate(waiting) if count == 0]  # ascending, so already a heap
    order: list[int] = []
    successors = network.successors
    while ready:
        i = heappop(ready)
        order.append(i)
        for s in successors[i]:
            waiting[s] -= 1
            if waiting[s] == 0:
                heappush(ready, s)
    if len(order) < len(tasks):
        raise DependencyCycle([tasks[i].id for i in _loop(waiting, network.predecessors)])
    return order


def _loop(waiting: list[int], predecessors: list[list[int]]) -> list[int]:
    # Every activity Kahn's algorithm could not place still waits on another unplaced one, so
    # walking from one unplaced activity to an unplaced predecessor must come back on itself.
    unplaced = [count > 0 for count in waiting]
    step: dict[int, int] = {}
    walk: list[int] = []
    node = unplaced.index(True)
    while node not in step:
        step[node] = len(walk)
        walk.append(node)
        node = next(p for p in predecessors[node] if unplaced[p])
    loop = walk[step[node] :][::-1]  # the walk went against the dependencies; turn it round
    first = loop.index(min(loop))  # open the loop at the activity listed first in the plan
    loop = loop[first:] + loop[:first]
    return [*loop, loop[0]]


def topological_order(tasks: Sequence[Task]) -> list[str]:
    """The activity ids with each after all it depends on; ties keep the input order."""
    return [tasks[i].id for i in _order(tasks, _network(tasks))]


def find_cycle(tasks: Sequence[Task]) -> list[str] | None:
    """One loop of dependencies, as ids with the first repeated at the end, or None."""
    try:
        topological_order(tasks)
    except DependencyCycle as cycle:
        return cycle.cycle
    return None


@dataclass(frozen=True)
class TaskSchedule:
    """When one activity can start and finish at the earliest and latest without moving the finish."""

    id: str
    earliest_start: date
    earliest_finish: date
    latest_start: date
    latest_finish: date
    total_float_days: int
    critical: bool


@dataclass(frozen=True)
class Schedule:
    """The whole plan scheduled: each activity's dates, the finish and one critical path."""

    start: date
    finish: date
    tasks: Mapping[str, TaskSchedule]
    critical_path: list[str]

    @property
    def length_days(self) -> int:
        """Calendar days from the plan's start to its finish."""
        return (self.finish - self.start).days


def critical_path_schedule(tasks: Sequence[Task], *, start: date) -> Schedule:
    """Earliest and latest dates, float and one critical path of the activities from the start date.

    A task's planned_start is a "start no earlier than" constraint: it can push the task later,
    never earlier than its predecessors allow. Actual dates and status play no part here; see
    forecast for those.
    """
    network = _network(tasks)
    order = _order(tasks, network)
    predecessors = network.predecessors
    # Day offsets from the start as ints keep date arithmetic out of the loops.
    base = start.toordinal()
    duration = [t.duration_days for t in tasks]
    es = [max(0, t.planned_start.toordinal() - base) if t.planned_start is not None else 0 for t in tasks]
    ef = [0] * len(tasks)
    for i in order:
        s = es[i]
        for p in predecessors[i]:
            if ef[p] > s:
                s = ef[p]
        es[i] = s
        ef[i] = s + duration[i]
    finish = max(ef, default=0)
    # In reverse order each activity is reached after all its successors, so its latest finish
    # is settled when it is reached and can be pushed back on to its predecessors.
    lf = [finish] * len(tasks)
    ls = [0] * len(tasks)
    for i in reversed(order):
        s = lf[i] - duration[i]
        ls[i] = s
        for p in predecessors[i]:
            if s < lf[p]:
                lf[p] = s
    # Converting each distinct day once: a plan has far fewer distinct days than dates to show.
    day = {d: date.fromordinal(base + d) for d in {finish, *es, *ef, *ls, *lf}}
    scheduled = {
        t.id: TaskSchedule(
            t.id, day[es[i]], day[ef[i]], day[ls[i]], day[lf[i]], ls[i] - es[i], ls[i] == es[i]
        )
        for i, t in enumerate(tasks)
    }
    path = _critical_chain(order, predecessors, es, ef, finish)
    return Schedule(start, day[finish], scheduled, [tasks[i].id for i in path])


def _critical_chain(
    order: list[int], predecessors: list[list[int]], es: list[int], ef: list[int], finish: int
) -> list[int]:
    # Walk back from the last activity to finish along predecessors that finish exactly when
    # their successor starts: such a predecessor has no float, so the chain is all critical.
    # Ties go to the predecessor later in the order, so milestones on the way are kept.
    position = [0] * len(order)
    for k, i in enumerate(order):
        position[i] = k
    last = next((i for i in reversed(order) if ef[i] == finish), None)
    if last is None:
        return []
    chain = [last]
    while True:
        current = chain[-1]
        tight = [p for p in predecessors[current] if ef[p] == es[current]]
        if not tight:
            break
        chain.append(max(tight, key=position.__getitem__))
    return chain[::-1]


@dataclass(frozen=True)
class Forecast:
    """When an activity is now expected to finish, against its plan."""

    id: str
    planned_end: date | None
    forecast_end: date
    slippage_days: int | None  # forecast - plan: positive late, negative early, None unplanned
    overdue: bool  # not completed and its planned end has passed
    blocked: bool


def _has_started(task: Task) -> bool:
    return task.status == IN_PROGRESS or (task.status == BLOCKED and task.actual_start is not None)


def _own_forecast(task: Task, today: date) -> date:
    # Work not yet done is never forecast to finish before its plan; only actuals can be early.
    planned = task.planned_finish
    if task.status == COMPLETED:
        return task.actual_end or planned or today
    if _has_started(task):
        expected = planned or (task.actual_start or today) + timedelta(days=task.duration_days)
        return max(expected, today)
    begin = max(task.planned_start or today, today)
    expected = begin + timedelta(days=task.duration_days)
    return max(expected, planned) if planned is not None else expected


def forecast(tasks: Sequence[Task], *, today: date) -> list[Forecast]:
    """Each activity's expected finish as of today, late predecessors pushing their successors.

    Completed: its actual end. In progress: its planned end, or today once that has passed.
    Not started: its planned end, or today plus its duration once its planned start has passed,
    and never before its predecessors' forecast finish plus its duration. An activity already
    started is not pushed by its predecessors: it has what it needed to start. Blocked counts as
    in progress when it has an actual start, as not started otherwise.
    """
    network = _network(tasks)
    ends: list[date] = [today] * len(tasks)
    for i in _order(tasks, network):
        task = tasks[i]
        end = _own_forecast(task, today)
        if task.status != COMPLETED and not _has_started(task):
            for p in network.predecessors[i]:
                end = max(end, ends[p] + timedelta(days=task.duration_days))
        ends[i] = end
    forecasts = []
    for task, end in zip(tasks, ends, strict=True):
        planned = task.planned_finish
        forecasts.append(
            Forecast(
                id=task.id,
                planned_end=planned,
                forecast_end=end,
                slippage_days=(end - planned).days if planned is not None else None,
                overdue=task.status != COMPLETED and planned is not None and planned < today,
                blocked=task.status == BLOCKED,
            )
        )
    return forecasts


@dataclass(frozen=True)
class PhaseEffort:
    """A phase's planned hours and share of all hours, against the playbook's recommended share."""

    phase: str
    hours: float
    share: float
    recommended_share: float | None
    difference: float | None  # share - recommended: positive means more effort than recommended


def effort_share(tasks: Sequence[Task], recommended: Mapping[str, float]) -> list[PhaseEffort]:
    """Hours and share of hours by phase, in the recommended phases' order, then any others.

    Shares are fractions of 1, as recommended shares must be. Activities without an effort
    estimate count 0 hours; a recommended phase with no activities shows 0 hours.
    """
    hours: dict[str, float] = dict.fromkeys(recommended, 0.0)
    for task in tasks:
        hours[task.phase] = hours.get(task.phase, 0.0) + (task.effort_hours or 0.0)
    total = sum(hours.values())
    efforts = []
    for phase, phase_hours in hours.items():
        share = phase_hours / total if total else 0.0
        target = recommended.get(phase)
        efforts.append(
            PhaseEffort(phase, phase_hours, share, target, share - target if target is not None else None)
        )
    return efforts
