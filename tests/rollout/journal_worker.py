"""A gateway stand-in for the journal tests: appends inference records under load until killed, or times it.

    python tests/rollout/journal_worker.py FOLDER STORE.sqlite [fsync|write]   # run until killed (crash test)
    python tests/rollout/journal_worker.py bench [THREADS] [SECONDS]   # appends and fsyncs per second

Several threads append records; each prints the record's id on stdout right after `append` returns,
which is the moment a gateway would acknowledge the request. Records are shipped into a SQLite table
keyed on id, the way the store de-duplicates, so the test sees what reached the store before the kill.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phasegate.rollout.journal import Acknowledge, Journal

THREADS = 4


def record(thread: int, number: int) -> dict[str, Any]:
    return {"id": f"t{thread}-{number}", "model": "demo", "output": "x" * 200, "latency_ms": 3.5}


def ship_to(database: Path) -> Callable[[list[dict[str, Any]]], None]:
    def ship(batch: list[dict[str, Any]]) -> None:
        with sqlite3.connect(database) as connection:
            connection.executemany(
                "INSERT OR IGNORE INTO inference (id) VALUES (?)", [(r["id"],) for r in batch]
            )

    return ship


def run_until_killed(folder: Path, database: Path, acknowledge: Acknowledge = "fsync") -> None:
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS inference (id TEXT PRIMARY KEY)")
    # Small segments and batches so the kill lands among rotations, checkpoints and deletions too.
    journal = Journal(
        folder,
        ship=ship_to(database),
        batch_size=50,
        ship_interval_s=0.02,
        segment_bytes=32 * 1024,
        acknowledge=acknowledge,
    )
    printing = threading.Lock()

    def work(thread: int) -> None:
        number = 0
        while True:
            journal.append(record(thread, number))
            with printing:
                sys.stdout.write(f"t{thread}-{number}\n")
                sys.stdout.flush()
            number += 1

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def bench(threads: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        journal = Journal(Path(folder), ship=lambda batch: None)
        stop = time.monotonic() + seconds

        def work(thread: int) -> None:
            number = 0
            while time.monotonic() < stop:
                journal.append(record(thread, number))
                number += 1

        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        started = time.monotonic()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.monotonic() - started
        stats = journal.stats()
        journal.close()
    print(
        f"{threads} threads: {stats.committed / elapsed:.0f} appends/s, "
        f"{stats.groups / elapsed:.0f} fsyncs/s, {stats.committed / stats.groups:.1f} records per fsync"
    )


if __name__ == "__main__":
    if sys.argv[1] == "bench":
        bench(int(sys.argv[2]) if len(sys.argv) > 2 else 16, float(sys.argv[3]) if len(sys.argv) > 3 else 2.0)
    else:
        acknowledge: Acknowledge = "write" if sys.argv[3:] == ["write"] else "fsync"
        run_until_killed(Path(sys.argv[1]), Path(sys.argv[2]), acknowledge)
