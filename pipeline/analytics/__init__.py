"""The audit lake: its schema and layout (and, with the analytics issue, the local Athena)."""
