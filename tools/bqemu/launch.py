"""Start the bqemulator BigQuery REST emulator for local runs and tests.

bqemulator insists on loading DuckDB's `spatial` extension at start-up and
DuckDB downloads it from the internet, which this environment cannot reach.
kv-sync never uses GEOGRAPHY, so the loader is replaced with a no-op before
the emulator starts. Every other part of the emulator is used unchanged.

Usage: python launch.py --rest-port 9050 --project demo [other `bqemulator start` flags]
"""

import sys

from bqemulator.storage import engine

engine.DuckDBEngine._load_spatial = lambda self: None  # GEOGRAPHY is unused

from bqemulator.cli import main  # noqa: E402  (must follow the patch)

if __name__ == "__main__":
    sys.argv = ["bqemulator", "start", *sys.argv[1:]]
    main()
