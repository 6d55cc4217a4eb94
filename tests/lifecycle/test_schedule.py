"""The schedule: order, loops, the critical path worked by hand, forecasts, effort, and random plans."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phasegate.lifecycle.schedule import (
    BLOCKED,
    COMPLETED,
    IN_PROGRESS,
    NOT_STARTED,
    DependencyCycle,
    DuplicateTask,
    InvalidTask,
    PhaseEffort,
    Task,
    UnknownDependency,
    critical_path_schedule,
    effort_share,
    find_cycle,
    forecast,
    topological_order,
)

START = date(2025, 3, 3)


def day(n: int) -> date:
    """The date n calendar days after the plan's start."""
    return START + timedelta(days=n)


def task(
    id: str,
    days: int,
    *depends_on: str,
    planned_start: date | None = None,
    planned_end: date | None = None,
    actual_end: date | None = None,
    status: str = NOT_STARTED,
) -> Task:
    """An activity of the 'build' phase, with only what a test is about written out."""
    return Task(
        id=id,
        name=id,
        phase="build",
        duration_days=days,
        depends_on=depends_on,
        planned_start=planned_start,
        planned_end=planned_end,
        actual_end=actual_end,
        status=status,
    )


# The hand-worked plan:
#   a scope (3) ─┬─ b data access (5) ─┬─ d model build (4) ─┬─ f go-live (milestone)
#                └─ c labelling (2) ───┴─ e security review (3) ┘
# Forward:  a 0→3, b 3→8, c 3→5, d max(8,5)=8→12, e 5→8, f max(12,8)=12→12; finish day 12.
# Backward: f 12←12, d 8←12, e 9←12, b 3←8, c min(8,9)−2=6←8, a min(3,6)−3=0←3.
PLAN = [
    task("a", 3),
    task("b", 5, "a"),
    task("c", 2, "a"),
    task("d", 4, "b", "c"),
    task("e", 3, "c"),
    task("f", 0, "d", "e"),
]
#            earliest start, finish; latest start, finish; float; critical
EXPECTED = {
    "a": (0, 3, 0, 3, 0, True),
    "b": (3, 8, 3, 8, 0, True),
    "c": (3, 5, 6, 8, 3, False),
    "d": (8, 12, 8, 12, 0, True),
    "e": (5, 8, 9, 12, 4, False),
    "f": (12, 12, 12, 12, 0, True),
}


def test_hand_worked_plan_has_the_dates_floats_and_critical_path_worked_out() -> None:
    schedule = critical_path_schedule(PLAN, start=START)
    for id, (es, ef, ls, lf, slack, critical) in EXPECTED.items():
        row = schedule.tasks[id]
        assert (row.earliest_start, row.earliest_finish) == (day(es), day(ef)), id
        assert (row.latest_start, row.latest_finish) == (day(ls), day(lf)), id
        assert (row.total_float_days, row.critical) == (slack, critical), id
    assert schedule.finish == day(12) == date(2025, 3, 15)
    assert schedule.length_days == 12
    assert schedule.critical_path == ["a", "b", "d", "f"]


def test_schedule_lists_its_activities_in_the_plans_order() -> None:
    assert list(critical_path_schedule(PLAN[::-1], start=START).tasks) == ["f", "e", "d", "c", "b", "a"]


def test_empty_plan_finishes_the_day_it_starts() -> None:
    schedule = critical_path_schedule([], start=START)
    assert (schedule.finish, schedule.tasks, schedule.critical_path) == (START, {}, [])


def test_topological_order_puts_each_activity_after_what_it_depends_on() -> None:
    assert topological_order(PLAN[::-1]) == ["a", "c", "e", "b", "d", "f"]


def test_topological_order_keeps_the_input_order_between_independent_activities() -> None:
    assert topological_order([task("c", 1), task("a", 1), task("b", 1)]) == ["c", "a", "b"]
    assert topological_order([task("z", 1, "y"), task("x", 1), task("y", 1)]) == ["x", "y", "z"]


def test_loop_of_three_is_named_from_the_activity_listed_first() -> None:
    loop = [task("a", 1, "c"), task("b", 1, "a"), task("c", 1, "b")]
    with pytest.raises(DependencyCycle) as raised:
        topological_order(loop)
    assert raised.value.cycle == ["a", "b", "c", "a"]
    assert str(raised.value) == (
        "activities depend on each other in a loop: a → b → c → a"
        " (each must finish before the next can start)"
    )


def test_loop_names_only_its_members_not_what_hangs_off_it() -> None:
    plan = [
        task("before", 1),
        task("after", 1, "c"),
        task("a", 1, "before", "c"),
        task("b", 1, "a"),
        task("c", 1, "b"),
    ]
    assert find_cycle(plan) == ["a", "b", "c", "a"]
    with pytest.raises(DependencyCycle):
        critical_path_schedule(plan, start=START)


def test_activity_that_depends_on_itself_is_a_loop_of_one() -> None:
    with pytest.raises(DependencyCycle) as raised:
        critical_path_schedule([task("a", 1), task("b", 2, "a", "b")], start=START)
    assert raised.value.cycle == ["b", "b"]


def test_plan_without_loops_has_no_cycle_to_find() -> None:
    assert find_cycle(PLAN) is None


def test_dependency_on_an_activity_not_in_the_plan_names_both() -> None:
    with pytest.raises(UnknownDependency) as raised:
        topological_order([task("a", 1), task("b", 1, "a", "zz")])
    assert (raised.value.task_id, raised.value.missing) == ("b", "zz")
    assert str(raised.value) == "activity 'b' depends on 'zz', which is not in the plan"


def test_two_activities_with_one_id_are_refused() -> None:
    with pytest.raises(DuplicateTask, match="'a'"):
        topological_order([task("a", 1), task("a", 2)])


def test_negative_duration_and_unknown_status_are_refused_where_the_activity_is_made() -> None:
    with pytest.raises(InvalidTask, match="activity 'a': duration_days is -1"):
        task("a", -1)
    with pytest.raises(InvalidTask, match="activity 'a': status is 'done'"):
        task("a", 1, status="done")


def test_milestone_finishes_the_day_it_starts_and_stays_on_the_critical_path() -> None:
    plan = [
        task("kickoff", 0),
        task("build", 5, "kickoff"),
        task("review", 0, "build"),
        task("ship", 3, "build", "review"),
    ]
    schedule = critical_path_schedule(plan, start=START)
    assert schedule.tasks["kickoff"].earliest_finish == START
    assert schedule.tasks["review"].earliest_start == schedule.tasks["review"].earliest_finish == day(5)
    assert schedule.critical_path == ["kickoff", "build", "review", "ship"]


def test_planned_start_holds_an_activity_back_and_gives_its_predecessor_float() -> None:
    plan = [task("a", 3), task("b", 2, "a", planned_start=day(10)), task("c", 1, "b")]
    schedule = critical_path_schedule(plan, start=START)
    assert schedule.tasks["b"].earliest_start == day(10)
    assert schedule.tasks["a"].total_float_days == 7
    assert schedule.critical_path == ["b", "c"]
    assert schedule.finish == day(13)


def test_planned_start_never_pulls_an_activity_before_its_predecessors_or_the_plan_start() -> None:
    plan = [task("a", 3, planned_start=day(-5)), task("b", 2, "a", planned_start=day(1))]
    schedule = critical_path_schedule(plan, start=START)
    assert schedule.tasks["a"].earliest_start == START
    assert schedule.tasks["b"].earliest_start == day(3)


# Forecasts, as of 20 March: the data-access task was due on the 17th and is still running.
TODAY = date(2025, 3, 20)


def by_id(plan: list[Task]) -> dict[str, tuple[date, int | None, bool, bool]]:
    """Each activity's forecast end, slippage, overdue and blocked flags."""
    return {
        f.id: (f.forecast_end, f.slippage_days, f.overdue, f.blocked) for f in forecast(plan, today=TODAY)
    }


def test_late_task_in_progress_slips_its_successors_by_the_days_it_is_late() -> None:
    plan = [
        task("access", 5, planned_start=date(2025, 3, 12), planned_end=date(2025, 3, 17), status=IN_PROGRESS),
        task("train", 5, "access", planned_start=date(2025, 3, 17), planned_end=date(2025, 3, 22)),
        task("review", 2, "train", planned_start=date(2025, 3, 22), planned_end=date(2025, 3, 24)),
        task("comms", 2, planned_start=date(2025, 3, 22), planned_end=date(2025, 3, 24)),
    ]
    assert by_id(plan) == {
        "access": (TODAY, 3, True, False),
        "train": (date(2025, 3, 25), 3, False, False),
        "review": (date(2025, 3, 27), 3, False, False),
        "comms": (date(2025, 3, 24), 0, False, False),
    }


def test_successor_with_float_absorbs_part_of_the_slip() -> None:
    plan = [
        task("access", 5, planned_end=date(2025, 3, 17), status=IN_PROGRESS),
        task("train", 5, "access", planned_start=date(2025, 3, 23), planned_end=date(2025, 3, 28)),
    ]
    assert by_id(plan)["train"] == (date(2025, 3, 28), 0, False, False)


def test_task_not_started_after_its_planned_start_takes_its_duration_from_today() -> None:
    plan = [task("late", 4, planned_start=date(2025, 3, 18), planned_end=date(2025, 3, 22))]
    assert by_id(plan)["late"] == (date(2025, 3, 24), 2, False, False)


def test_completed_task_ends_on_its_actual_end_even_when_early_and_is_never_overdue() -> None:
    plan = [
        task("done", 5, planned_end=date(2025, 3, 17), actual_end=date(2025, 3, 15), status=COMPLETED),
        task("next", 2, "done", planned_start=date(2025, 3, 21), planned_end=date(2025, 3, 23)),
    ]
    assert by_id(plan) == {
        "done": (date(2025, 3, 15), -2, False, False),
        "next": (date(2025, 3, 23), 0, False, False),
    }


def test_overdue_means_unfinished_past_its_planned_end_not_on_it() -> None:
    plan = [
        task("past", 1, planned_end=date(2025, 3, 19), status=IN_PROGRESS),
        task("due today", 1, planned_end=TODAY, status=IN_PROGRESS),
    ]
    assert [f.overdue for f in forecast(plan, today=TODAY)] == [True, False]


def test_blocked_task_is_flagged_and_forecast_as_not_yet_started() -> None:
    plan = [
        task("waiting", 3, planned_start=date(2025, 3, 10), planned_end=date(2025, 3, 13), status=BLOCKED)
    ]
    assert by_id(plan)["waiting"] == (date(2025, 3, 23), 10, True, True)


def test_task_without_planned_dates_has_no_slippage() -> None:
    assert by_id([task("someday", 3)])["someday"] == (date(2025, 3, 23), None, False, False)


def rounded(efforts: list[PhaseEffort]) -> list[PhaseEffort]:
    """The efforts with shares to 9 places, so 0.25 - 0.2 compares equal to 0.05."""
    return [
        replace(
            e, share=round(e.share, 9), difference=None if e.difference is None else round(e.difference, 9)
        )
        for e in efforts
    ]


def test_effort_share_by_phase_against_the_recommended_shares() -> None:
    plan = [
        Task("s1", "Scope", "scope", 2, effort_hours=10),
        Task("b1", "Build", "build", 5, effort_hours=20),
        Task("b2", "Tune", "build", 5, effort_hours=10),
        Task("o1", "Runbook", "operate", 1),
    ]
    # 40 hours in all: scope 10/40 = 0.25 against 0.2, build 30/40 = 0.75 against 0.5; evaluate is
    # recommended but has nothing planned; operate has an activity but no estimate nor recommendation.
    assert rounded(effort_share(plan, {"scope": 0.2, "build": 0.5, "evaluate": 0.3})) == [
        PhaseEffort("scope", 10, 0.25, 0.2, 0.05),
        PhaseEffort("build", 30, 0.75, 0.5, 0.25),
        PhaseEffort("evaluate", 0, 0.0, 0.3, -0.3),
        PhaseEffort("operate", 0, 0.0, None, None),
    ]


def test_effort_share_without_any_hours_is_zero_everywhere() -> None:
    efforts = effort_share([task("a", 1)], {"build": 1.0})
    assert efforts == [PhaseEffort("build", 0, 0.0, 1.0, -1.0)]


# Random plans without loops: a link only runs from a lower to a higher number.


@st.composite
def plans(draw: st.DrawFn, with_planned_starts: bool = False) -> list[Task]:
    """A random plan whose activities are listed in a random order."""
    n = draw(st.integers(1, 25))
    durations = draw(st.lists(st.integers(0, 10), min_size=n, max_size=n))
    link = st.integers(0, max(n - 2, 0)).flatmap(lambda a: st.tuples(st.just(a), st.integers(a + 1, n - 1)))
    links = draw(st.sets(link, min_size=n // 2, max_size=3 * n)) if n > 1 else set()
    starts: list[date | None] = [None] * n
    if with_planned_starts:
        starts = draw(st.lists(st.none() | st.integers(-3, 30).map(day), min_size=n, max_size=n))
    tasks = [
        task(
            f"t{i}",
            durations[i],
            *(f"t{a}" for a, b in sorted(links) if b == i),
            planned_start=starts[i],
        )
        for i in range(n)
    ]
    return draw(st.permutations(tasks))


def links_of(plan: list[Task]) -> set[tuple[str, str]]:
    """Each dependency as (what must finish first, what waits for it)."""
    return {(before, t.id) for t in plan for before in t.depends_on}


@given(plans(with_planned_starts=True))
def test_no_activity_starts_before_its_predecessors_finish_or_its_planned_start(plan: list[Task]) -> None:
    schedule = critical_path_schedule(plan, start=START).tasks
    for before, after in links_of(plan):
        assert schedule[after].earliest_start >= schedule[before].earliest_finish
    for t in plan:
        assert schedule[t.id].earliest_start >= max(START, t.planned_start or START)


@given(plans(with_planned_starts=True))
def test_float_is_never_negative_and_the_same_at_both_ends(plan: list[Task]) -> None:
    schedule = critical_path_schedule(plan, start=START)
    for row in schedule.tasks.values():
        assert row.total_float_days >= 0
        assert (row.latest_start - row.earliest_start).days == row.total_float_days
        assert (row.latest_finish - row.earliest_finish).days == row.total_float_days
        assert row.latest_finish <= schedule.finish
        assert row.critical == (row.total_float_days == 0)


@given(plans(with_planned_starts=True), st.data())
def test_delaying_an_activity_by_its_float_keeps_the_finish_and_one_day_more_moves_it(
    plan: list[Task], data: st.DataObject
) -> None:
    schedule = critical_path_schedule(plan, start=START)
    target = data.draw(st.sampled_from(plan))
    row = schedule.tasks[target.id]

    def finish_if_started_on(start: date) -> date:
        held = [replace(t, planned_start=start) if t is target else t for t in plan]
        return critical_path_schedule(held, start=START).finish

    latest = row.earliest_start + timedelta(days=row.total_float_days)
    assert finish_if_started_on(latest) == schedule.finish
    assert finish_if_started_on(latest + timedelta(days=1)) == schedule.finish + timedelta(days=1)


@given(plans())
def test_critical_path_is_a_chain_of_dependencies_as_long_as_the_plan(plan: list[Task]) -> None:
    schedule = critical_path_schedule(plan, start=START)
    path = schedule.critical_path
    durations = {t.id: t.duration_days for t in plan}
    assert all(pair in links_of(plan) for pair in pairwise(path))
    assert all(schedule.tasks[id].critical for id in path)
    assert sum(durations[id] for id in path) == schedule.length_days
    assert schedule.tasks[path[0]].earliest_start == START
    assert schedule.tasks[path[-1]].earliest_finish == schedule.finish


@given(plans())
def test_topological_order_is_a_permutation_that_respects_every_link(plan: list[Task]) -> None:
    order = topological_order(plan)
    assert sorted(order) == sorted(t.id for t in plan)
    position = {id: k for k, id in enumerate(order)}
    assert all(position[before] < position[after] for before, after in links_of(plan))


@given(plans(), st.data())
def test_link_that_closes_a_loop_is_reported_as_a_real_loop(plan: list[Task], data: st.DataObject) -> None:
    successors: dict[str, list[str]] = {t.id: [] for t in plan}
    for before, after in sorted(links_of(plan)):
        successors[before].append(after)
    # Walk forward along links, then make the first activity wait for where the walk ended;
    # with nowhere to walk, the activity waits for itself.
    first = data.draw(st.sampled_from([id for id, after in successors.items() if after] or list(successors)))
    last = first
    for _ in range(data.draw(st.integers(1, 10))):
        if not successors[last]:
            break
        last = data.draw(st.sampled_from(successors[last]))
    looped = [replace(t, depends_on=(*t.depends_on, last)) if t.id == first else t for t in plan]

    with pytest.raises(DependencyCycle) as raised:
        topological_order(looped)

    cycle = raised.value.cycle
    assert cycle[0] == cycle[-1] and len(set(cycle)) == len(cycle) - 1
    assert all(pair in links_of(looped) for pair in pairwise(cycle))
