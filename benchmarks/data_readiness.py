"""Profile plus a 50-check contract on a 10,000,000 × 25 Parquet file, against its peers in the same run.

Targets (the issue's): at most 1.5× the time of DuckDB's own SUMMARIZE over the same file, at
least 20× faster than Great Expectations running the same checks with its pandas engine, and a
peak memory under 2 GiB. Each contender runs in a subprocess of its own, so its peak resident
memory (getrusage's ru_maxrss, which includes Python and its libraries) is its own.

Fewer rows for a quick try: `python -m benchmarks.data_readiness --rows 1000000 --repeat 1`, or
PHASEGATE_BENCH_ROWS=1000000 PHASEGATE_BENCH_REPEAT=1 with `python -m benchmarks data_readiness`;
`--skip-gx` leaves out Great Expectations (minutes and ~11 GiB) while iterating on phasegate alone.
On a busy machine wall times stretch: the CPU seconds printed with each phase tell its cost.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks import _generate

ROWS = 10_000_000
ROWS_VARIABLE = "PHASEGATE_BENCH_ROWS"
REPEAT = 2
REPEAT_VARIABLE = "PHASEGATE_BENCH_REPEAT"
OUT = Path(__file__).parent / "out"
ROOT = Path(__file__).resolve().parent.parent
SUMMARIZE_RATIO_TARGET = 1.5
GX_SPEEDUP_TARGET = 20.0
PEAK_TARGET_BYTES = 2 * 2**30
GIB = 2**30
MIB = 2**20


@dataclass(frozen=True)
class Check:
    """One check, written once: as a contract entry for phasegate and as an expectation for GX."""

    column: str
    kind: str  # a ColumnRule field, or "rule" for a row rule `column >= value`
    value: Any = True
    name: str | None = None  # a rule's name

    @property
    def key(self) -> str:
        """The check's name in phasegate's report."""
        return f"rule: {self.name}" if self.kind == "rule" else f"{self.column}.{self.kind}"


EMAIL = r"^[a-z0-9._+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$"

# 50 checks; five of them fail on the generated data (a negative price, the null rate of ratings,
# an unknown country, malformed e-mails, parcels shipped before they were ordered).
CHECKS: tuple[Check, ...] = (
    Check("order_id", "not_null"),
    Check("order_id", "unique"),
    Check("order_id", "min", 1),
    Check("customer_id", "not_null"),
    Check("customer_id", "min", 1),
    Check("customer_id", "max", 1_000_000),
    Check("quantity", "not_null"),
    Check("quantity", "min", 1),
    Check("quantity", "max", 100),
    Check("unit_price", "max_null_rate", 0.02),
    Check("unit_price", "min", 0.5),
    Check("unit_price", "max", 1000),
    Check("discount", "max_null_rate", 0.1),
    Check("discount", "min", 0),
    Check("discount", "max", 0.5),
    Check("net_amount", "max_null_rate", 0.02),
    Check("net_amount", "min", 0),
    Check("tax_amount", "max_null_rate", 0.02),
    Check("tax_amount", "min", 0),
    Check("total_amount", "max_null_rate", 0.02),
    Check("total_amount", "min", 0),
    Check("total_amount", "max", 150_000),
    Check("rating", "max_null_rate", 0.1),
    Check("rating", "min", 1),
    Check("rating", "max", 5),
    Check("score", "min", -10),
    Check("score", "max", 10),
    Check("status", "not_null"),
    Check("status", "allowed", list(_generate.STATUSES)),
    Check("country", "not_null"),
    Check("country", "allowed", list(_generate.COUNTRIES)),
    Check("channel", "max_null_rate", 0.05),
    Check("channel", "allowed", list(_generate.CHANNELS)),
    Check("currency", "not_null"),
    Check("currency", "allowed", list(_generate.CURRENCIES)),
    Check("email", "max_null_rate", 0.05),
    Check("email", "pattern", EMAIL),
    Check("invoice_no", "not_null"),
    Check("invoice_no", "unique"),
    Check("invoice_no", "pattern", r"^INV-[0-9]{8}$"),
    Check("sku", "not_null"),
    Check("sku", "pattern", r"^SKU-[A-Z]{3}-[0-9]{4}$"),
    Check("phone", "pattern", r"^\+44 20 [0-9]{4} [0-9]{4}$"),
    Check("postcode", "pattern", r"^[A-Z]{2}[0-9] [0-9][A-Z]{2}$"),
    Check("created_at", "not_null"),
    Check("shipped_at", "max_null_rate", 0.4),
    Check("is_gift", "not_null"),
    Check("comment", "max_null_rate", 0.9),
    Check("shipped_at", "rule", "created_at", name="shipped after ordered"),
    Check("total_amount", "rule", "net_amount", name="total covers net"),
)


def contract_document() -> dict[str, Any]:
    """CHECKS as a DataContract document."""
    columns: dict[str, dict[str, Any]] = {}
    rules = []
    for check in CHECKS:
        if check.kind == "rule":
            rules.append({"name": check.name, "expression": f"{check.column} >= {check.value}"})
        else:
            columns.setdefault(check.column, {})[check.kind] = check.value
    return {
        "kind": "DataContract",
        "id": "orders-bench",
        "source": "orders",
        "columns": columns,
        "rules": rules,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Generate (or reuse) the file, run the three contenders on it and print times, memory and ratios."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.data_readiness", description=__doc__)
    parser.add_argument("--rows", type=int, default=int(os.environ.get(ROWS_VARIABLE, ROWS)))
    parser.add_argument(
        "--repeat",
        type=int,
        default=int(os.environ.get(REPEAT_VARIABLE, REPEAT)),
        help="runs of SUMMARIZE and of phasegate, alternating; the fastest of each counts",
    )
    parser.add_argument("--contender", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    # Great Expectations takes minutes and ~11 GiB: leave it out while iterating on phasegate alone.
    parser.add_argument("--skip-gx", action="store_true", help=argparse.SUPPRESS)
    # The runner calls main() with no arguments: the command line is its, not this benchmark's.
    args = parser.parse_args([] if argv is None else argv)
    if args.contender:
        print(json.dumps(CONTENDERS[args.contender](args.file)))
        return
    compare(args.rows, max(1, args.repeat), gx=not args.skip_gx)


def compare(rows: int, repeat: int, *, gx: bool = True) -> None:
    """Run the contenders on the same file and print what each took.

    SUMMARIZE and phasegate alternate `repeat` times and the fastest run of each counts: other work
    on a shared machine only ever slows a run down. Great Expectations, minutes long, runs once.
    """
    path, written = _generate.ensure(OUT, rows)
    how = "cached" if written is None else f"written in {written:.1f} s"
    print(
        f"data readiness: {rows:,} rows x {_generate.COLUMNS} columns "
        f"({path.stat().st_size / MIB:,.0f} MiB Parquet, {how}; {len(CHECKS)} checks); {_machine()}",
        flush=True,
    )
    _read_through(path)  # every contender reads the file from the page cache, the first one too

    runs: dict[str, list[dict[str, Any]]] = {"summarize": [], "phasegate": []}
    for _ in range(repeat):
        for name, kept in runs.items():
            measured = _contender(name, path)
            if "error" in measured:
                title = "DuckDB SUMMARIZE" if name == "summarize" else name
                print(f"{title} could not run: {measured['error']}")
                return
            measured["total"] = measured.get("seconds") or measured["profile"] + measured["contract"]
            kept.append(measured)
    summarize, ours = (_fastest(runs[name]) for name in ("summarize", "phasegate"))
    print(
        f"DuckDB SUMMARIZE {summarize['total']:.1f} s "
        f"({_spread(runs['summarize'])}cpu {summarize['cpu']:.1f} s), peak {_gib(summarize['peak'])}",
        flush=True,
    )
    total = ours["total"]
    ratio = total / summarize["total"]
    print(
        f"phasegate profile {ours['profile']:.1f} s + contract {ours['contract']:.1f} s = {total:.1f} s "
        f"({_spread(runs['phasegate'])}cpu {ours['cpu']:.1f} s), peak {_gib(ours['peak'])} "
        f"-> {ratio:.2f}x SUMMARIZE (target <= {SUMMARIZE_RATIO_TARGET}x: "
        f"{_verdict(ratio <= SUMMARIZE_RATIO_TARGET)}; "
        f"peak target < {PEAK_TARGET_BYTES / GIB:.0f} GiB: {_verdict(ours['peak'] < PEAK_TARGET_BYTES)})",
        flush=True,
    )
    log = OUT / f"phasegate-queries-{rows}.json"
    log.write_text(json.dumps(ours["queries"], indent=1))
    print(f"  where phasegate's time goes: {_breakdown(ours)}", flush=True)
    print(f"  its queries, with their SQL and seconds: {log.relative_to(ROOT)}", flush=True)

    if not gx:
        return
    if importlib.util.find_spec("great_expectations") is None:
        print(
            "Great Expectations is not installed, so it was not compared: "
            "`pip install -e '.[bench]'` (make bench does) to run it"
        )
        return
    theirs = _contender("gx", path)
    if "error" in theirs:
        print(f"Great Expectations (pandas) could not run: {theirs['error']}")
        return
    speedup = theirs["seconds"] / total
    print(
        f"Great Expectations {theirs['version']} (pandas) {theirs['seconds']:.1f} s "
        f"(load {theirs['load']:.1f} s + validate {theirs['validate']:.1f} s; cpu {theirs['cpu']:.1f} s), "
        f"peak {_gib(theirs['peak'])} -> phasegate is {_faster(speedup)} "
        f"(target >= {GX_SPEEDUP_TARGET:.0f}x: {_verdict(speedup >= GX_SPEEDUP_TARGET)})"
    )
    print(_agreement(ours["verdicts"], theirs["verdicts"]))
    print(f"load average after the run (its own work included): {os.getloadavg()[0]:.1f}")


def _fastest(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest run, with the highest peak memory of all the runs."""
    fastest = min(runs, key=lambda run: float(run["total"]))
    return {**fastest, "peak": max(run["peak"] for run in runs)}


def _spread(runs: list[dict[str, Any]]) -> str:
    if len(runs) < 2:
        return ""
    seconds = ", ".join(f"{run['total']:.1f}" for run in runs)
    return f"fastest of {seconds} s; "


def _machine() -> str:
    """The cores and how busy they were before the run: other work on the machine stretches every time."""
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    busy = " (busy: other work shares the cores and stretches every time)" if load > cores / 2 else ""
    return f"{cores} cores, load average {load:.1f}{busy}"


def _contender(name: str, path: Path) -> dict[str, Any]:
    """One contender's measures, run in a fresh interpreter so its peak memory is its own."""
    command = [sys.executable, "-m", "benchmarks.data_readiness", "--contender", name, "--file", str(path)]
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "False"}  # no phoning home from GX
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        killed = " (killed: out of memory?)" if done.returncode in (-9, 137) else ""
        return {"error": lines[-1][:300] + killed}
    measures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return measures


def _read_through(path: Path) -> None:
    with path.open("rb") as file:
        while file.read(16 * MIB):
            pass


def _cpu() -> float:
    """This process's CPU seconds so far, user and system: against wall time, how many cores it kept busy."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak() -> int:
    """This process's peak resident memory in bytes (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _gib(size: int) -> str:
    return f"{size / GIB:.2f} GiB"


def _faster(speedup: float) -> str:
    return f"{speedup:.1f}x faster" if speedup >= 1 else f"{1 / speedup:.1f}x SLOWER"


def _verdict(met: bool) -> str:
    return "ok" if met else "MISS"


def _breakdown(ours: dict[str, Any]) -> str:
    cpus = ours["phase_cpu"]
    parts = [
        f"{label} {seconds:.1f} s" + (f" (cpu {cpus[label]:.1f} s)" if label in cpus else "")
        for label, seconds in ours["phases"].items()
    ]
    return (
        ", ".join(parts)
        + f" ({len(ours['queries'])} queries, {ours['contract_queries']} of them the contract's); "
        + f"Python and libraries {_gib(ours['baseline'])} of the peak"
    )


def _agreement(ours: dict[str, str], theirs: dict[str, str]) -> str:
    """Whether both said pass or fail for each check, with the checks that failed."""
    keys = [check.key for check in CHECKS]
    same = [k for k in keys if ours.get(k) == theirs.get(k)]
    failing = [k for k in same if ours[k] == "fail"]
    line = (
        f"verdicts: {len(same)} of {len(keys)} checks agree "
        f"({len(same) - len(failing)} pass, {len(failing)} fail on both: {', '.join(failing) or 'none'})"
    )
    differing = [f"{k} (phasegate {ours.get(k)}, GX {theirs.get(k)})" for k in keys if k not in same]
    if differing:
        line += f"; DIFFERENT: {', '.join(differing)}"
    return line


# The contenders, each run in its own subprocess and answering with one JSON line.


def _summarize(path: Path) -> dict[str, Any]:
    import duckdb

    cpu = _cpu()
    started = time.perf_counter()
    with duckdb.connect() as con:
        con.execute("SET enable_progress_bar = false")
        con.sql(f"SUMMARIZE SELECT * FROM read_parquet('{_literal(path)}')").fetchall()
    return {"seconds": time.perf_counter() - started, "cpu": _cpu() - cpu, "peak": _peak()}


def _phasegate(path: Path) -> dict[str, Any]:
    from phasegate.data import checking, contracts, engines, profiling

    baseline = _peak()
    cpu = _cpu()
    started = time.perf_counter()
    location = engines.parse_location(str(path))
    engine = engines.connect("duckdb", location=location)
    log = _QueryLog(engine.backend)
    table = engine.table(location)
    profile = profiling.profile(table, engine="duckdb")
    profiled = time.perf_counter()
    contract = contracts.parse_contract(contract_document())
    # As an audit runs them: the contract reads the counts the profile took rather than count again.
    report = checking.run_contract(contract, table, engine="duckdb", profile=profile)
    checked = time.perf_counter()
    engine.close()
    phases: dict[str, float] = {}
    cpus: dict[str, float] = {}
    for query in log.queries:
        phases[query["label"]] = phases.get(query["label"], 0.0) + query["seconds"]
        cpus[query["label"]] = cpus.get(query["label"], 0.0) + query["cpu"]
    phases["compiling and planning"] = (checked - started) - sum(phases.values()) + log.compiling
    for label in phases:
        if label != "compiling and planning":
            phases[label] -= sum(q["compile"] for q in log.queries if q["label"] == label)
    return {
        "profile": profiled - started,
        "contract": checked - profiled,
        "cpu": _cpu() - cpu,
        "peak": _peak(),
        "baseline": baseline,
        "phases": phases,
        "phase_cpu": cpus,
        "queries": log.queries,
        "contract_queries": report.queries,
        "verdicts": {result.check: result.status for result in report.results},
    }


# What each of phasegate's queries computes, by the function that ran it; a function not named here
# (they are private, and others may rename them) shows under its own name.
QUERY_LABELS = {
    "_scalar_stats": "scalar stats",
    "_histograms": "histograms and quantiles",
    "bin_counts": "histograms and quantiles",
    "_ranked_quantiles": "ranked quantiles",
    "_top_values_and_shapes": "top values and shapes",
    "_sampled": "sample",
    "_measure": "contract aggregate",
    "_examples": "examples",
}
FETCHING = frozenset({"_fetch_one", "_fetch_row", "_fetch_rows", "rows", "one"})


class _QueryLog:
    """Each query a DuckDB backend of Ibis runs: what ran it, its SQL, its wall, compile and CPU seconds.

    CPU seconds (of every thread) tell a query's cost on a busy machine, where wall time also counts
    the waits for a core.
    """

    def __init__(self, backend: Any) -> None:
        self.queries: list[dict[str, Any]] = []
        self.compiling = 0.0
        self._compile, self._to_pyarrow = backend.compile, backend.to_pyarrow
        self._create_cached_table = backend._create_cached_table
        # Instance attributes shadow the methods: Ibis finds them through the backend object. A
        # cached table (a profile's sample) is written by a query that returns no rows.
        backend.compile, backend.to_pyarrow = self.compile, self.to_pyarrow
        backend._create_cached_table = self.create_cached_table

    def compile(self, expr: Any, /, **kwargs: Any) -> str:
        started = time.perf_counter()
        sql: str = self._compile(expr, **kwargs)
        self.compiling += time.perf_counter() - started
        self._sql = sql
        return sql

    def to_pyarrow(self, expr: Any, /, **kwargs: Any) -> Any:
        return self._logged(self._to_pyarrow, expr, **kwargs)

    def create_cached_table(self, name: str, expr: Any) -> Any:
        return self._logged(partial(self._create_cached_table, name), expr)

    def _logged(self, run: Callable[..., Any], expr: Any, /, **kwargs: Any) -> Any:
        label = _caller()
        compiling, self._sql = self.compiling, ""
        started, cpu = time.perf_counter(), _cpu()
        try:
            return run(expr, **kwargs)
        finally:
            self.queries.append(
                {
                    "label": label,
                    "seconds": time.perf_counter() - started,
                    "cpu": _cpu() - cpu,
                    "compile": self.compiling - compiling,
                    "sql": self._sql,
                }
            )


def _caller() -> str:
    """The phasegate function that asked for a query, past the helpers that fetch its rows."""
    frame: FrameType | None = sys._getframe(2)
    innermost = None
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith("phasegate."):
            name = frame.f_code.co_name
            innermost = innermost or name
            if name == "profile":  # its own queries: the row count, then the histograms and quantiles
                return "row count" if innermost == "_fetch_one" else "histograms and quantiles"
            if name not in FETCHING:
                return QUERY_LABELS.get(name, name)
        frame = frame.f_back
    return "other"


def _gx(path: Path) -> dict[str, Any]:
    import great_expectations as gx
    import pandas as pd

    cpu = _cpu()
    started = time.perf_counter()
    frame = pd.read_parquet(path)  # as a GX user loads a file for the pandas engine
    loaded = time.perf_counter()
    context = gx.get_context(mode="ephemeral")
    asset = context.data_sources.add_pandas("bench").add_dataframe_asset("orders")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": frame})
    suite = context.suites.add(gx.ExpectationSuite(name="contract", expectations=_expectations(gx)))
    validation = batch.validate(suite)
    validated = time.perf_counter()
    verdicts = {}
    for result in validation.results:
        raised = (result.exception_info or {}).get("raised_exception", False)
        meta = result.expectation_config.meta if result.expectation_config else {}
        verdicts[meta["check"]] = "error" if raised else "pass" if result.success else "fail"
    return {
        "version": gx.__version__,
        "seconds": validated - started,
        "load": loaded - started,
        "validate": validated - loaded,
        "cpu": _cpu() - cpu,
        "peak": _peak(),
        "verdicts": verdicts,
    }


def _expectations(gx: Any) -> list[Any]:
    """CHECKS as GX expectations, each tagged with its phasegate name to match the verdicts."""
    e = gx.expectations
    made = []
    for check in CHECKS:
        column, value, meta = check.column, check.value, {"check": check.key}
        if check.kind == "not_null":
            made.append(e.ExpectColumnValuesToNotBeNull(column=column, meta=meta))
        elif check.kind == "max_null_rate":
            made.append(e.ExpectColumnValuesToNotBeNull(column=column, mostly=1 - value, meta=meta))
        elif check.kind == "unique":
            made.append(e.ExpectColumnValuesToBeUnique(column=column, meta=meta))
        elif check.kind == "min":
            made.append(e.ExpectColumnValuesToBeBetween(column=column, min_value=value, meta=meta))
        elif check.kind == "max":
            made.append(e.ExpectColumnValuesToBeBetween(column=column, max_value=value, meta=meta))
        elif check.kind == "allowed":
            made.append(e.ExpectColumnValuesToBeInSet(column=column, value_set=value, meta=meta))
        elif check.kind == "pattern":
            made.append(e.ExpectColumnValuesToMatchRegex(column=column, regex=value, meta=meta))
        elif check.kind == "rule":
            # `a >= b`, where a row with either side missing is not judged, as in phasegate's rules.
            made.append(
                e.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=column,
                    column_B=value,
                    or_equal=True,
                    ignore_row_if="either_value_is_missing",
                    meta=meta,
                )
            )
        else:
            raise ValueError(f"no Great Expectations form for {check.kind}")
    return made


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")


CONTENDERS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "summarize": _summarize,
    "phasegate": _phasegate,
    "gx": _gx,
}


if __name__ == "__main__":
    main(sys.argv[1:])
