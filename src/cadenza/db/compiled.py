"""SELECTs compiled once and run straight on the driver's cursor.

SQLAlchemy's execution path costs about 100 µs per statement on a small core (events,
cache-key lookup, result metadata), while SQLite answers an indexed lookup in about 10 µs.
Task polls are the API's hottest path, so their queries are compiled here once, with
SQLAlchemy's own SQL text and result processors, and run on a DBAPI connection. Only
binds without a bind processor (strings, integers) are accepted, so values go to the
driver exactly as SQLAlchemy would send them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect


class CompiledSelect:
    """One SELECT for one dialect; rows come back as dicts keyed by column name."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        for bind in compiled.binds.values():
            if bind.expanding or bind.type.dialect_impl(dialect).bind_processor(dialect):
                raise ValueError(f"bind {bind.key!r} needs processing; use a SQLAlchemy query")
        self.sql = str(compiled)
        self._binds = frozenset(bind.key for bind in compiled.binds.values())
        self._order = list(compiled.positiontup or ()) if compiled.positional else None
        self._names = [str(column.key) for column in statement.selected_columns]
        self._dialect = dialect
        self._types = [column.type.dialect_impl(dialect) for column in statement.selected_columns]
        self._processors: list[tuple[int, Callable[[Any], Any]]] | None = None

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        """Values by bind name, in the driver's paramstyle; every bind must be given."""
        missing = self._binds.difference(values)
        if missing:
            raise KeyError(f"missing binds: {sorted(missing)}")
        if self._order is not None:
            return [values[name] for name in self._order]
        return dict(values)

    @property
    def names(self) -> list[str]:
        """The selected columns' names (labels), in order."""
        return list(self._names)

    def rows(self, cursor: Any, **values: Any) -> list[dict[str, Any]]:
        """Execute on a DBAPI ``cursor``; every value converted as SQLAlchemy would."""
        return [dict(zip(self._names, row, strict=True)) for row in self.tuples(cursor, **values)]

    def tuples(self, cursor: Any, **values: Any) -> list[list[Any]]:
        """Like ``rows``, as lists in the order of ``names`` (no dict per row: cheaper)."""
        records = self.raw(cursor, **values)
        for record in records:
            self.convert(record)
        return records

    def raw(self, cursor: Any, **values: Any) -> list[list[Any]]:
        """The rows as the driver returns them; ``convert`` makes their values Python's.
        A join repeats the left table's columns on every row: convert those once."""
        cursor.execute(self.sql, self.parameters(values))
        if self._processors is None:
            self._processors = self._result_processors(cursor.description)
        return [list(row) for row in cursor.fetchall()]

    def convert(self, record: list[Any], start: int = 0, stop: int | None = None) -> list[Any]:
        """Converts the values of columns ``start:stop`` of a ``raw`` row in place."""
        processors = self._processors
        assert processors is not None, "convert needs a row from raw()"
        end = len(record) if stop is None else stop
        for index, process in processors:
            if start <= index < end:
                value = record[index]
                if value is not None:
                    record[index] = process(value)
        return record

    def _result_processors(self, description: Any) -> list[tuple[int, Callable[[Any], Any]]]:
        """Some drivers' processors depend on the column's type code, known after a run."""
        found: list[tuple[int, Callable[[Any], Any]]] = []
        for index, (type_, column) in enumerate(zip(self._types, description, strict=True)):
            process = type_.result_processor(self._dialect, column[1])
            if process is not None:
                found.append((index, process))
        return found
