"""What an import or a sync did: rows inserted, updated, unchanged and deleted per table."""

from __future__ import annotations

from dataclasses import dataclass, field

from deploykit.store import STORED_TABLES

_KINDS = ("inserted", "updated", "unchanged", "deleted")


@dataclass
class ImportReport:
    """Counts of rows per table written by one import or sync.

    ``inserted`` and ``updated`` count rows written; a sync also counts ``unchanged``
    rows (in the source and the store alike: not written) and ``deleted`` rows (gone
    from the source, so removed from the store). An import counts every row it matched
    by id as updated.

    Examples
    --------
    >>> report = ImportReport(source="data/")
    >>> report.add("flow", inserted=2, updated=1)
    >>> report.add("flow", inserted=1, updated=0)
    >>> report
    ImportReport(data/: flow +3 ~1)
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
    """Whether this is a sync's report (it counts unchanged and deleted rows)."""

    def add(
        self, table: str, *, inserted: int = 0, updated: int = 0, unchanged: int = 0, deleted: int = 0
    ) -> None:
        """Add the counts of one batch of ``table`` rows."""
        self.inserted[table] = self.inserted.get(table, 0) + inserted
        self.updated[table] = self.updated.get(table, 0) + updated
        if self.synced:
            self.unchanged[table] = self.unchanged.get(table, 0) + unchanged
            self.deleted[table] = self.deleted.get(table, 0) + deleted

    @property
    def total(self) -> int:
        """Rows written (inserted, updated or deleted) over all tables."""
        return sum(self.inserted.values()) + sum(self.updated.values()) + sum(self.deleted.values())

    def rows(self) -> list[tuple[str, int, int]]:
        """``(table, inserted, updated)`` for each table touched, in the store's table order."""
        return [(t, self.inserted[t], self.updated[t]) for t in self._tables()]

    def counts(self) -> dict[str, dict[str, int]]:
        """``{table: {"inserted": n, "updated": n, "unchanged": n, "deleted": n}}``, store table order."""
        return {t: {k: getattr(self, k).get(t, 0) for k in _KINDS} for t in self._tables()}

    def _tables(self) -> list[str]:
        seen = {*self.inserted, *self.unchanged, *self.deleted}
        order = [*STORED_TABLES, *sorted(seen - set(STORED_TABLES))]
        return [t for t in order if t in seen]

    def __repr__(self) -> str:
        if self.synced:
            parts = ", ".join(
                f"{t} +{c['inserted']} ~{c['updated']} ={c['unchanged']} -{c['deleted']}"
                for t, c in self.counts().items()
            )
        else:
            parts = " ".join(f"{t} +{i} ~{u}" for t, i, u in self.rows())
        return f"ImportReport({self.source}: {parts or 'nothing'})"

    def __str__(self) -> str:
        if not self.synced:
            lines = [f"imported {self.source}"]
            lines += [f"  {t:<11} {i:>9} inserted {u:>9} updated" for t, i, u in self.rows()]
            return "\n".join(lines)
        lines = [f"synced {self.source}"]
        lines += [
            f"  {t:<19} {c['inserted']:>9} inserted {c['updated']:>9} updated "
            f"{c['unchanged']:>9} unchanged {c['deleted']:>9} deleted"
            for t, c in self.counts().items()
        ]
        return "\n".join(lines)
