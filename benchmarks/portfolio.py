"""Import of the 2025 federal AI inventory (3,611 rows) through the service layer, first and again."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from phasegate.identity.service import local_operator
from phasegate.portfolio import importing
from phasegate.portfolio import service as portfolio_service
from phasegate.portfolio.presets import get_preset
from phasegate.store import Store, upgrade

INVENTORY = Path(__file__).parent.parent / "tests" / "data" / "us-federal-ai-inventory-2025.csv"


def main() -> None:
    data = INVENTORY.read_bytes()
    preset = get_preset("us-federal-2025")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        upgrade(url)
        store = Store(url)
        started = time.perf_counter()
        table = importing.read_table(data, filename=INVENTORY.name)
        results = importing.rows_to_specs(table, dict(preset.mapping), preset=preset, filename=INVENTORY.name)
        converted = time.perf_counter()
        timings = []
        for _ in range(2):
            begin = time.perf_counter()
            with store.transaction() as session:
                report = portfolio_service.import_rows(
                    session, actor=local_operator("bench"), results=results
                )
            timings.append(time.perf_counter() - begin)
        store.dispose()
    outcomes = {o: sum(1 for r in report if r.outcome == o) for o in ("create", "update", "unchanged")}
    print(
        f"portfolio import: {len(results):,} rows read and converted in {converted - started:.2f} s; "
        f"stored in {timings[0]:.2f} s; re-import {timings[1]:.2f} s ({outcomes['unchanged']:,} unchanged)"
    )


if __name__ == "__main__":
    main()
