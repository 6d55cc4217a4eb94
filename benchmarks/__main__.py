"""Run the benchmarks: `python -m benchmarks [NAME ...]`, all of them when no name is given."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable

import benchmarks


def available() -> dict[str, Callable[[], None]]:
    """Each benchmark module's main(), by module name; modules are found by listing the package."""
    found: dict[str, Callable[[], None]] = {}
    for module in pkgutil.iter_modules(benchmarks.__path__):
        if module.name.startswith("_"):
            continue
        main = getattr(importlib.import_module(f"benchmarks.{module.name}"), "main", None)
        if callable(main):
            found[module.name] = main
    return dict(sorted(found.items()))


def run(argv: list[str] | None = None) -> int:
    """Run the named benchmarks, or all; 2 when a name is not a benchmark."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    names = parser.parse_args(argv).names
    mains = available()
    unknown = [n for n in names if n not in mains]
    if unknown:
        print(
            f"no benchmark named {', '.join(unknown)}; the benchmarks are: {', '.join(mains)}",
            file=sys.stderr,
        )
        return 2
    for name in names or list(mains):
        mains[name]()
    return 0


if __name__ == "__main__":
    sys.exit(run())
