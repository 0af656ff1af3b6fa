"""`python -m pipeline lake ...`: the named queries, SQL, an order's history, verification."""

from __future__ import annotations

import pyarrow.parquet as pq

from analytics import fixed_lake
from pipeline.cli import main


def test_the_lake_commands(tmp_path, capsys):
    fixed_lake.write(tmp_path)
    lake = ["--lake", str(tmp_path)]
    assert main(["lake", "query", "duplicate_events", *lake]) == 0
    assert "order-A" in capsys.readouterr().out
    assert main(["lake", "history", "order-D", *lake, "--at", "2026-03-10T11:30:01"]) == 0
    out = capsys.readouterr().out
    assert "PaymentDeclined" in out and "COMPENSATING (version 2)" in out
    assert main(["lake", "sql", "SELECT count(*) AS n FROM audit_events", *lake]) == 0
    assert "26" in capsys.readouterr().out  # 25 events and one duplicate delivery
    assert main(["lake", "verify", *lake]) == 0
    assert "intact" in capsys.readouterr().out
    assert main(["lake", "history", *lake]) == 2  # no order id given
    assert main(["lake", "history", "order-Z", *lake]) == 1  # not in the lake


def test_verify_exits_1_and_names_a_deleted_event(tmp_path, capsys):
    fixed_lake.write(tmp_path)
    for path in tmp_path.rglob("*.parquet"):
        table = pq.read_table(path)
        rows = [r for r in table.to_pylist() if (r["order_id"], r["sequence"]) != ("order-C", 2)]
        pq.write_table(table.from_pylist(rows, schema=table.schema), path)
    assert main(["lake", "verify", "--lake", str(tmp_path)]) == 1
    assert "order-C #2: removed" in capsys.readouterr().out
