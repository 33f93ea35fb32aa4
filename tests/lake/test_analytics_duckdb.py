"""`footfall funnel` and `footfall retention` against the same analyses written in DuckDB SQL
(bench/funnel_duckdb.py, bench/retention_duckdb.py) on the same Delta tables: persons per
step and device, and the first-time daily retention matrix, must be equal."""

import subprocess
from datetime import datetime
import sys
from pathlib import Path

from conftest import WRITE_KEY, footfall_bin

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from funnel_duckdb import STEPS, duckdb_funnel, footfall_funnel  # noqa: E402
from retention_duckdb import duckdb_retention, footfall_retention  # noqa: E402

START, END = "2026-11-16T00:00:00Z", "2026-11-20T00:00:00Z"
START_US, END_US = (int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()) * 1_000_000 for t in (START, END))


def test_ordered_funnel_and_first_time_retention_equal_duckdb(server):
    sim = subprocess.run([footfall_bin(), "simulate", "--seed", "8", "--users", "400", "--days", "4",
                          "--end", END, "--to", server.url, "--write-key", WRITE_KEY], capture_output=True, text=True)
    assert sim.returncode == 0, sim.stderr
    assert server.stop() == 0  # the processor commits what is left at shutdown
    for window, window_us in (("1h", 3_600_000_000), ("10m", 600_000_000)):
        ours, _ = footfall_funnel(footfall_bin(), server.data, STEPS, window, START, END)
        theirs, _ = duckdb_funnel(server.data / "lake", STEPS, window_us, START_US, END_US)
        assert ours == theirs
        assert sum(v for (_, k), v in ours.items() if k == 1) > 100
        assert sum(v for (_, k), v in ours.items() if k == 4) > 0

    for start_event, return_event in (("Product Viewed", "Product Viewed"), ("Product Viewed", "Order Completed")):
        ours, _ = footfall_retention(footfall_bin(), server.data, start_event, return_event, 3, "2026-11-16", "2026-11-20")
        theirs, _ = duckdb_retention(server.data / "lake", start_event, return_event, 3, "2026-11-16", "2026-11-20")
        assert ours == theirs
        assert len({cohort for cohort, _ in ours}) == 4
        assert any(n > 0 for (_, k), (_, n) in ours.items() if k > 0)
