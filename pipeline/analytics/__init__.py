"""The audit lake: its schema and layout (from the template's Glue table), the lake as pyarrow
reads it (local directory or S3), the Athena SQL run locally by DuckDB, order histories and
integrity checks of the hash chain."""
