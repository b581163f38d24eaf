"""What an import did: rows inserted and updated per table."""

from __future__ import annotations

from dataclasses import dataclass, field

from deploykit.store import STORED_TABLES


@dataclass
class ImportReport:
    """Counts of rows inserted and updated per table by one import.

    Examples
    --------
    >>> report = ImportReport(source="data/")
    >>> report.add("flow", inserted=2, updated=1)
    >>> report.add("flow", inserted=1, updated=0)
    >>> report
    ImportReport(data/: flow +3 ~1)
    >>> report.total
    4
    """

    source: str
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, *, inserted: int, updated: int) -> None:
        """Add the counts of one batch of ``table`` rows."""
        self.inserted[table] = self.inserted.get(table, 0) + inserted
        self.updated[table] = self.updated.get(table, 0) + updated

    @property
    def total(self) -> int:
        """Rows written (inserted or updated) over all tables."""
        return sum(self.inserted.values()) + sum(self.updated.values())

    def rows(self) -> list[tuple[str, int, int]]:
        """``(table, inserted, updated)`` for each table touched, in the store's table order."""
        seen = [t for t in STORED_TABLES if t in self.inserted]
        return [(t, self.inserted[t], self.updated[t]) for t in seen]

    def __repr__(self) -> str:
        parts = " ".join(f"{t} +{i} ~{u}" for t, i, u in self.rows()) or "nothing"
        return f"ImportReport({self.source}: {parts})"

    def __str__(self) -> str:
        lines = [f"imported {self.source}"]
        lines += [f"  {t:<11} {i:>9} inserted {u:>9} updated" for t, i, u in self.rows()]
        return "\n".join(lines)
