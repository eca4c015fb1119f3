"""Filters as NumPy masks: each filterable field of a knowledge base's records kept as an array (years) or as rows
per value (record types, publication types, journals, MeSH terms, ids), built once per loaded version. A filtered
search then costs a few array operations instead of a Python loop over every record per query; the result is the
same as ``Filters.accepts`` record by record (``tests/test_filters.py``).

A sharded knowledge base (``kb.shards``) saves its columns at build time (``save``) and memory-maps them on load
(``load``), so a million-paper knowledge base opens without reading a record. ``record_values`` is the one place
that says which values of a record a filter sees; the sparse index of a sharded knowledge base indexes the same.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..types import Record

FIELDS = ("types", "publication_types", "journals", "mesh", "ids")
LOWERCASED = {"types": False, "publication_types": True, "journals": True, "mesh": True, "ids": False}


def record_year(record: Record) -> int:
    return record.year if isinstance(record.year, int) else -1


def record_values(record: Record) -> dict[str, set[str]]:
    """The values each filter field matches for ``record`` (lowercased where the filter ignores case)."""
    return {
        "types": {record.type, *(record.extra.get("merged_types") or ())},
        "publication_types": {str(v).lower() for v in record.extra.get("publication_types") or ()},
        "journals": {(record.journal or "").lower()},
        "mesh": {str(v).lower() for v in record.extra.get("mesh_terms") or ()},
        "ids": {record.id},
    }


def query_values(name: str, values: Iterable) -> list[str]:
    """A filter's values as ``record_values`` spells them."""
    return [str(v).lower() if LOWERCASED[name] else str(v) for v in values]


class FilterColumns:
    def __init__(self, records: Sequence[Record] = (), *, size: int | None = None, year: np.ndarray | None = None,
                 rows: dict | None = None, alive: np.ndarray | None = None):
        self.alive = alive  # records an update replaced or deleted are not alive (sharded knowledge bases)
        if year is not None:  # loaded from disk
            self.size, self.year, self.rows = int(size), year, rows
            return
        self.size = len(records)
        self.year = np.array([record_year(r) for r in records], dtype=np.int32)
        lists: dict[str, defaultdict] = {name: defaultdict(list) for name in FIELDS}
        for row, record in enumerate(records):
            for name, values in record_values(record).items():
                for value in values:
                    lists[name][value].append(row)
        self.rows = {name: {value: np.asarray(rows, dtype=np.int64) for value, rows in found.items()}
                     for name, found in lists.items()}

    def _any_of(self, name: str, values) -> np.ndarray:
        allowed = np.zeros(self.size, dtype=bool)
        for value in query_values(name, values):
            rows = self.rows[name].get(value)
            if rows is not None:
                allowed[rows] = True
        return allowed

    def mask(self, filters) -> np.ndarray:
        """Which records pass ``filters`` (a ``retriever.Filters``)."""
        passed = np.ones(self.size, dtype=bool) if self.alive is None else np.array(self.alive, dtype=bool)
        if filters.year_min is not None:
            passed &= self.year >= filters.year_min
        if filters.year_max is not None:
            passed &= (self.year >= 0) & (self.year <= filters.year_max)
        for name in FIELDS:
            values = getattr(filters, name)
            if values:
                passed &= self._any_of(name, values)
        return passed

    def year_range(self) -> tuple[int, int] | None:
        """The oldest and newest year of the live records that have one."""
        known = np.asarray(self.year) >= 0
        if self.alive is not None:
            known &= np.asarray(self.alive, dtype=bool)
        years = np.asarray(self.year)[known]
        return (int(years.min()), int(years.max())) if len(years) else None

    # -- on disk (sharded knowledge bases) ----------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Years as one array; per field, the values (JSON), and each value's rows as a slice of one array."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "year.npy", self.year)
        if self.alive is not None:
            np.save(folder / "alive.npy", self.alive)
        for name in FIELDS:
            values = sorted(self.rows[name])
            parts = [self.rows[name][v] for v in values]
            offsets = np.cumsum([0] + [len(p) for p in parts]).astype(np.int64)
            np.save(folder / f"{name}.rows.npy", np.concatenate(parts) if parts else np.zeros(0, np.int64))
            np.save(folder / f"{name}.offsets.npy", offsets)
            (folder / f"{name}.values.json").write_text(json.dumps(values, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "FilterColumns":
        year = np.load(folder / "year.npy", mmap_mode="r")
        rows = {}
        for name in FIELDS:
            flat = np.load(folder / f"{name}.rows.npy", mmap_mode="r")
            offsets = np.load(folder / f"{name}.offsets.npy", mmap_mode="r")
            rows[name] = _Slices(folder / f"{name}.values.json", flat, offsets)
        alive = np.load(folder / "alive.npy", mmap_mode="r") if (folder / "alive.npy").is_file() else None
        return cls(size=len(year), year=year, rows=rows, alive=alive)

    def extended(self, records: Sequence[Record], dead: np.ndarray) -> "FilterColumns":
        """These columns with ``records`` appended as new rows and the rows ``dead`` no longer alive (an update
        applied as a delta)."""
        added = FilterColumns(records)
        first = self.size
        rows = {}
        for name in FIELDS:
            merged = {value: np.asarray(self.rows[name].get(value)) for value in self.rows[name]}
            for value, found in added.rows[name].items():
                merged[value] = np.concatenate([merged.get(value, np.zeros(0, np.int64)), found + first])
            rows[name] = merged
        alive = np.ones(first + added.size, dtype=bool)
        if self.alive is not None:
            alive[:first] = self.alive
        alive[np.asarray(dead, dtype=np.int64)] = False
        return FilterColumns(size=first + added.size, year=np.concatenate([np.asarray(self.year), added.year]),
                             rows=rows, alive=alive)


class _Slices:
    """``value -> rows`` over one memory-mapped array of rows, sliced by offsets (a dict's ``get``). The values are
    read on first use: a million-paper knowledge base has a million ids, and most processes never filter by id."""

    def __init__(self, values: Path, flat: np.ndarray, offsets: np.ndarray):
        self.values, self._where = values, None
        self.flat, self.offsets = flat, offsets

    @property
    def where(self) -> dict[str, int]:
        if self._where is None:
            self._where = {v: i for i, v in enumerate(json.loads(self.values.read_text(encoding="utf-8")))}
        return self._where

    def get(self, value: str):
        i = self.where.get(value)
        return None if i is None else np.asarray(self.flat[self.offsets[i]:self.offsets[i + 1]])

    def __iter__(self):
        return iter(self.where)
