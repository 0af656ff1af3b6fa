"""The lake's Arrow schema, derived from the Glue table in the template (never restated).

Firehose converts JSON rows to Parquet with the Glue table's columns; the local Firehose
writes with this schema, so both produce the same files.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pyarrow as pa

from pipeline.template import Template

_SCALARS = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "smallint": pa.int16(),
    "double": pa.float64(),
    "float": pa.float32(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("ms", tz="UTC"),
    "date": pa.date32(),
}


def arrow_type(glue: str) -> pa.DataType:
    """A Glue/Hive type string (``array<struct<a:int>>``, ``decimal(12,2)``) as an Arrow type."""
    glue = glue.strip()
    if glue in _SCALARS:
        return _SCALARS[glue]
    decimal = re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", glue)
    if decimal:
        return pa.decimal128(int(decimal.group(1)), int(decimal.group(2)))
    if glue.startswith("array<") and glue.endswith(">"):
        return pa.list_(arrow_type(glue[6:-1]))
    if glue.startswith("struct<") and glue.endswith(">"):
        return pa.struct([pa.field(n, arrow_type(t)) for n, t in _split_fields(glue[7:-1])])
    raise ValueError(f"unsupported Glue type {glue!r}")


def glue_type(kind: pa.DataType) -> str:
    """An Arrow type as the Glue/Hive type string :func:`arrow_type` reads (its inverse)."""
    for name, scalar in _SCALARS.items():
        if kind == scalar:
            return name
    if pa.types.is_decimal(kind):
        return f"decimal({kind.precision},{kind.scale})"
    if pa.types.is_list(kind):
        return f"array<{glue_type(kind.value_type)}>"
    if pa.types.is_struct(kind):
        return "struct<" + ",".join(f"{f.name}:{glue_type(f.type)}" for f in kind) + ">"
    raise ValueError(f"no Glue type for {kind}")


def _split_fields(body: str) -> list[tuple[str, str]]:
    """``a:int,b:struct<c:string>`` -> [(a, int), (b, struct<c:string>)], nesting respected."""
    fields, depth, current = [], 0, ""
    for char in body + ",":
        if char == "," and depth == 0:
            name, _, kind = current.partition(":")
            fields.append((name.strip(), kind.strip()))
            current = ""
            continue
        depth += char in "<("
        depth -= char in ">)"
        current += char
    return fields


def glue_table(template: Template) -> dict[str, Any]:
    (table_id,) = [t for t, _ in template.of_type("AWS::Glue::Table")]
    return template.properties(table_id)["TableInput"]


def lake_schema(template: Template) -> pa.Schema:
    """The Arrow schema of the lake's Parquet files (partition columns are in the path)."""
    columns = glue_table(template)["StorageDescriptor"]["Columns"]
    return pa.schema([pa.field(c["Name"], arrow_type(c["Type"])) for c in columns])


def partition_keys(template: Template) -> list[str]:
    return [k["Name"] for k in glue_table(template)["PartitionKeys"]]


_PLACEHOLDER = re.compile(r"!\{timestamp:([A-Za-z]+)\}")
_JAVA_TO_STRFTIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


def object_prefix(prefix: str, moment: datetime) -> str:
    """A Firehose ``Prefix`` with its ``!{timestamp:...}`` placeholders filled for ``moment``
    (where a delivery of that moment lands in the lake)."""
    return _PLACEHOLDER.sub(lambda m: moment.strftime(_JAVA_TO_STRFTIME[m.group(1)]), prefix)
