"""The Parquet files a Delta table's log lists now (what DuckDB's `delta_scan` would read; its
extension is a download this machine cannot make), as a DuckDB list literal."""

from pathlib import Path

import deltalake


def quoted(text):
    return "'" + text.replace("'", "''") + "'"


def files(lake, table):
    return "[" + ", ".join(quoted(f) for f in deltalake.DeltaTable(str(Path(lake) / table)).file_uris()) + "]"
