"""Athena, locally: the stack's named queries run unchanged in DuckDB over the audit lake.

The template deploys each ``infra/queries/*.sql`` as an ``AWS::Athena::NamedQuery`` over the
Glue table ``audit_events``. Here the same text runs in DuckDB against a view of that name on
the lake's pyarrow dataset (:mod:`pipeline.analytics.lake`), local or on S3. DuckDB pushes
column selections and filters into the scan, so a query reads only the columns it names, and
a filter on ``year``/``month``/``day``/``hour`` skips whole partitions, as Athena does.

The two dialects meet through three macros: Athena's ``approx_percentile(x, q)`` is DuckDB's
``quantile_disc(x, q)`` (an exact quantile, which is what Athena's approximation converges
to; on small inputs both return a value of the input), and ``xxhash64(to_utf8(s))`` is
DuckDB's 64-bit ``hash(s)``. Results come back as pandas
DataFrames built from Arrow, so ``decimal(12,2)`` amounts stay ``Decimal`` (never floats).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.analytics.lake import Lake
from pipeline.template import INFRA_DIR, Template

# Athena (Trino) functions the queries use that DuckDB spells differently. xxhash64 gives a
# different 64-bit value from Athena's; the queries only compare digests with each other.
COMPATIBILITY = (
    "CREATE OR REPLACE MACRO approx_percentile(x, q) AS quantile_disc(x, q)",
    "CREATE OR REPLACE MACRO to_utf8(x) AS x",
    "CREATE OR REPLACE MACRO xxhash64(x) AS CASE WHEN x IS NULL THEN NULL ELSE hash(x) END",
)
_FILE = re.compile(r"--\s*file:\s*(\S+)")


def named_queries(template: Template | None = None) -> dict[str, str]:
    """Each deployed named query's name -> its SQL, read from the file the template names
    (``QueryString: "-- file: queries/<name>.sql"``, filled in when the stack is packaged)."""
    template = template or Template.load()
    queries = {}
    for logical_id, _ in template.of_type("AWS::Athena::NamedQuery"):
        props = template.properties(logical_id)
        text = props["QueryString"]
        match = _FILE.fullmatch(text.strip())
        queries[props["Name"]] = (INFRA_DIR / match.group(1)).read_text() if match else text
    return queries


class LocalAthena:
    """DuckDB over a :class:`Lake`; ``since``/``until`` limit the view to those hours'
    partitions (the files of other hours are not opened).

    The view reads the lake's Parquet files with DuckDB's own reader (multi-threaded, column
    and row-group pruning), from the file list the :class:`Lake` gives. A remote lake's files
    are read through the lake's own pyarrow filesystem, registered with DuckDB (fsspec), so a
    local lake and an S3 one differ only in where the bytes come from.
    """

    def __init__(
        self,
        lake: Lake,
        since: datetime | None = None,
        until: datetime | None = None,
        template: Template | None = None,
    ) -> None:
        import duckdb

        self.lake = lake
        self.queries = named_queries(template)
        self.connection = duckdb.connect()
        for statement in COMPATIBILITY:
            self.connection.execute(statement)
        files = lake.files(since, until)
        if lake.remote:
            self.connection.register_filesystem(lake_filesystem(lake.filesystem))
            files = [f"{LAKE_PROTOCOL}://{path}" for path in files]
        if files:
            listed = ", ".join("'" + path.replace("'", "''") + "'" for path in files)
            self.connection.execute(
                f"CREATE VIEW audit_events AS SELECT * FROM read_parquet([{listed}],"
                " hive_partitioning = true, hive_types_autocast = false)"
            )
        else:  # an empty lake (or window): the table's columns, no rows
            empty = lake.schema.empty_table()
            self.connection.register("audit_events", empty)

    def sql(self, text: str, parameters: list[Any] | None = None) -> Any:
        """Any SQL over ``audit_events``; a pandas DataFrame (decimals as ``Decimal``)."""
        table = self.connection.sql(text, params=parameters or None).to_arrow_table()
        return _counts_as_integers(table).to_pandas()

    def records(self, text: str, parameters: list[Any] | None = None) -> list[dict[str, Any]]:
        """Any SQL over ``audit_events``, as plain Python rows (None for NULL)."""
        return self.connection.sql(text, params=parameters or None).to_arrow_table().to_pylist()

    def query(self, name: str) -> Any:
        """A named query by its deployed name (``orders_by_status_per_hour``, ...)."""
        if name not in self.queries:
            raise KeyError(f"no named query {name!r}; the stack has {sorted(self.queries)}")
        return self.sql(self.queries[name])

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> LocalAthena:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


LAKE_PROTOCOL = "lake"


def lake_filesystem(filesystem: Any) -> Any:
    """An fsspec view of a pyarrow filesystem under the ``lake://`` protocol, for DuckDB."""
    from fsspec.implementations.arrow import ArrowFSWrapper

    class LakeFileSystem(ArrowFSWrapper):
        protocol = LAKE_PROTOCOL

        @classmethod
        def _strip_protocol(cls, path: Any) -> Any:
            prefix = f"{LAKE_PROTOCOL}://"
            if isinstance(path, list):
                return [cls._strip_protocol(p) for p in path]
            return path[len(prefix) :] if path.startswith(prefix) else path

    return LakeFileSystem(filesystem)


def _counts_as_integers(table: Any) -> Any:
    """DuckDB sums integers into DECIMAL(38,0); Athena into bigint. Whole-number decimals
    become int64 (money keeps its scale of 2 and stays Decimal)."""
    import pyarrow as pa

    for index, field in enumerate(table.schema):
        if pa.types.is_decimal(field.type) and field.type.scale == 0:
            table = table.set_column(index, field.name, table.column(index).cast(pa.int64()))
    return table


def query_files(directory: Path | None = None) -> list[Path]:
    return sorted((directory or INFRA_DIR / "queries").glob("*.sql"))
