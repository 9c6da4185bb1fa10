"""`make bench`: run every benchmark module in turn. Each module has `main()`; append yours to BENCHMARKS."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS: tuple[str, ...] = (
    "tests.bench.prep",
    "tests.bench.prep_realdata",
    "tests.bench.drift_acceptance",
    "tests.bench.training",
)


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== {name}", flush=True)
        saved, sys.argv = sys.argv, [name]  # each benchmark runs with its own defaults
        try:
            importlib.import_module(name).main()
        except Exception as exc:  # one broken benchmark should not hide the others' figures
            print(f"{name} failed: {exc!r}", file=sys.stderr)
            failed.append(name)
        finally:
            sys.argv = saved
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
