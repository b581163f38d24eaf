"""What an import or a sync did: rows inserted, updated, unchanged and deleted per table."""

from __future__ import annotations

from dataclasses import dataclass, field

from deploykit.store import STORED_TABLES

_KINDS = ("inserted", "updated", "unchanged", "deleted")


@dataclass
class ImportReport:
    """Counts of rows per table written by one import or sync.

    ``inserted`` and ``updated`` count rows written, ``unchanged`` rows read that the
    store already held alike (not written); a sync also counts ``deleted`` rows (gone
    from the source, so removed from the store).

    Examples
    --------
    >>> report = ImportReport(source="data/")
    >>> report.add("flow", inserted=2, updated=1)
    >>> report.add("flow", inserted=1, unchanged=4)
    >>> report
    ImportReport(data/: flow +3 ~1 =4)
    >>> report.total
    4
    >>> synced = ImportReport(source="prefect.db", synced=True)
    >>> synced.add("flow_run", updated=2, unchanged=5, deleted=1)
    >>> synced
    ImportReport(prefect.db: flow_run +0 ~2 =5 -1)
    """

    source: str
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    synced: bool = False
    """Whether this is a sync's report (it also counts deleted rows)."""

    def add(
        self, table: str, *, inserted: int = 0, updated: int = 0, unchanged: int = 0, deleted: int = 0
    ) -> None:
        """Add the counts of one batch of ``table`` rows."""
        self.inserted[table] = self.inserted.get(table, 0) + inserted
        self.updated[table] = self.updated.get(table, 0) + updated
        self.unchanged[table] = self.unchanged.get(table, 0) + unchanged
        if self.synced:
            self.deleted[table] = self.deleted.get(table, 0) + deleted

    @property
    def total(self) -> int:
        """Rows written (inserted, updated or deleted) over all tables."""
        return sum(self.inserted.values()) + sum(self.updated.values()) + sum(self.deleted.values())

    def counts(self) -> dict[str, dict[str, int]]:
        """``{table: {"inserted": n, "updated": n, "unchanged": n, "deleted": n}}``, store table order."""
        return {t: {k: getattr(self, k).get(t, 0) for k in _KINDS} for t in self._tables()}

    def _tables(self) -> list[str]:
        seen = {*self.inserted, *self.unchanged, *self.deleted}
        order = [*STORED_TABLES, *sorted(seen - set(STORED_TABLES))]
        return [t for t in order if t in seen]

    def _kinds(self) -> tuple[str, ...]:
        """The counts this report shows: a sync's include deletions."""
        return _KINDS if self.synced else _KINDS[:3]

    def __repr__(self) -> str:
        marks = dict(zip(_KINDS, "+~=-", strict=True))
        parts = ", ".join(
            f"{t} " + " ".join(f"{marks[k]}{c[k]}" for k in self._kinds()) for t, c in self.counts().items()
        )
        return f"ImportReport({self.source}: {parts or 'nothing'})"

    def __str__(self) -> str:
        lines = [f"{'synced' if self.synced else 'imported'} {self.source}"]
        for table, counts in self.counts().items():
            lines.append(f"  {table:<19} " + " ".join(f"{counts[k]:>9} {k}" for k in self._kinds()))
        return "\n".join(lines)
