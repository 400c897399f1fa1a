"""Writing many rows' fields at once, cheaply.

Django's ``bulk_update`` writes each field as ``CASE WHEN id = 1 THEN … WHEN id = 2 THEN … END``: one
expression object per row and field, compiled into SQL in Python. For the mirror's first complete
listing (10,000 servers) that compilation alone took seconds of CPU. On PostgreSQL the same rows are
written as ``UPDATE … FROM (VALUES …)``, which the driver fills in; elsewhere (SQLite) Django's
``bulk_update`` is used as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, router
from django.db.models import Field, Model

# Rows one statement writes; PostgreSQL takes at most 65,535 parameters in one statement.
BATCH = 500


def bulk_update_fields(model: type[Model], rows: Sequence[Model], fields: Sequence[str]) -> int:
    """Write ``fields`` of ``rows`` (instances of ``model`` with a primary key), and nothing else, as
    ``bulk_update`` would (no signals, no ``auto_now``). Returns the number of rows written."""
    if not rows:
        return 0
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        model._default_manager.using(alias).bulk_update(rows, list(fields), batch_size=BATCH)
        return len(rows)
    meta = model._meta
    columns: list[Field] = []
    for field in (meta.pk, *(meta.get_field(name) for name in fields)):
        if not isinstance(field, Field) or not field.column:
            raise ValueError(f"{model.__name__}.{field} is not a column")
        columns.append(field)
    quoted = [connection.ops.quote_name(str(field.column)) for field in columns]
    # Each VALUES column is cast to its field's type: literal parameters alone would be text.
    row_sql = "(" + ", ".join(f"%s::{field.db_type(connection)}" for field in columns) + ")"
    sets = ", ".join(f"{name} = v.{name}" for name in quoted[1:])
    table = connection.ops.quote_name(meta.db_table)
    written = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            params = [
                field.get_db_prep_save(getattr(row, field.attname), connection)
                for row in batch
                for field in columns
            ]
            cursor.execute(
                f"UPDATE {table} AS t SET {sets} FROM (VALUES {', '.join([row_sql] * len(batch))}) "  # noqa: S608 -- names quoted, values are parameters
                f"AS v({', '.join(quoted)}) WHERE t.{quoted[0]} = v.{quoted[0]}",
                params,
            )
            written += cursor.rowcount
    return written
