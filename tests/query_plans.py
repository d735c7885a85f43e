"""The statements a use case runs, captured, and their PostgreSQL plans checked: each reads
an index, never the whole table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


@contextmanager
def selects_on(engine: Engine, table: str) -> Iterator[list[tuple[str, Any]]]:
    """The SELECT statements naming `table` run on `engine` inside the block, with their
    parameters."""
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and table in statement:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def assert_indexed(engine: Engine, statements: list[tuple[str, Any]], index: str) -> None:
    """Every statement's plan uses an index whose name starts with `index`; none scans a
    whole table."""
    with engine.connect() as conn:
        for statement, parameters in statements:
            plan = "\n".join(
                str(r[0]) for r in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            )
            assert "Seq Scan" not in plan, f"{statement}\n{plan}"
            assert index in plan, f"{statement}\n{plan}"
