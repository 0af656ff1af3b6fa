"""The lake's one schema: the Glue table's columns, as Arrow; every writer uses it."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from analytics import fixed_lake
from pipeline.analytics.lake import Lake
from pipeline.analytics.schema import glue_table, glue_type, lake_schema, partition_keys
from pipeline.sim.run import RunSpec, simulate
from pipeline.template import Template


def test_the_arrow_schema_and_the_glue_columns_are_one_schema():
    template = Template.load()
    columns = glue_table(template)["StorageDescriptor"]["Columns"]
    derived = [{"Name": f.name, "Type": glue_type(f.type)} for f in lake_schema(template)]
    assert derived == [{"Name": c["Name"], "Type": c["Type"].replace(" ", "")} for c in columns]
    assert partition_keys(template) == ["year", "month", "day", "hour"]


def test_amounts_are_decimals_and_lines_are_nested():
    schema = lake_schema(Template.load())
    assert schema.field("amount").type == pa.decimal128(12, 2)
    lines = schema.field("lines").type
    assert pa.types.is_list(lines) and lines.value_type.field("unit_price").type == pa.decimal128(
        12, 2
    )
    assert schema.field("occurred_at").type == pa.timestamp("ms", tz="UTC")


def test_the_local_firehose_and_the_simulator_write_that_schema(tmp_path):
    schema = lake_schema(Template.load())
    fixed_lake.write(tmp_path / "local")
    simulate(RunSpec(rate_per_min=120, duration_s=20, drain_s=600, lake_dir=str(tmp_path / "sim")))
    for root in ("local", "sim"):
        files = Lake.open(str(tmp_path / root)).files()
        assert files
        for path in files:
            written = pq.read_schema(path)
            assert written.remove_metadata() == schema, root
            assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "SNAPPY"
