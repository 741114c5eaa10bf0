"""The estate model: tables (schema), loading, validation and all-or-nothing saving."""

from shangyun.estate.model import Estate, cell_text, coerce_table, empty_frame, parse_bool
from shangyun.estate.schema import SCHEMA_VERSION, TABLES, Column, Table

__all__ = [
    "SCHEMA_VERSION", "TABLES", "Column", "Estate", "Table", "cell_text", "coerce_table",
    "empty_frame", "parse_bool",
]
