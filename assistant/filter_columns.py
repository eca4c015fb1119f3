"""Filters as NumPy masks: each filterable field of a knowledge base's records kept as an array (years) or as rows
per value (record types, publication types, journals, MeSH terms, ids), built once per loaded version. A filtered
search then costs a few array operations instead of a Python loop over every record per query; the result is the
same as ``Filters.accepts`` record by record (``tests/test_filters.py``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from .types import Record


class FilterColumns:
    def __init__(self, records: Sequence[Record]):
        self.size = len(records)
        self.year = np.array([r.year if isinstance(r.year, int) else -1 for r in records], dtype=np.int32)
        lists: dict[str, defaultdict] = {name: defaultdict(list) for name in
                                         ("types", "publication_types", "journals", "mesh", "ids")}
        for row, r in enumerate(records):
            for value in {r.type, *(r.extra.get("merged_types") or ())}:
                lists["types"][value].append(row)
            for value in {str(v).lower() for v in r.extra.get("publication_types") or ()}:
                lists["publication_types"][value].append(row)
            for value in {str(v).lower() for v in r.extra.get("mesh_terms") or ()}:
                lists["mesh"][value].append(row)
            lists["journals"][(r.journal or "").lower()].append(row)
            lists["ids"][r.id].append(row)
        self.rows = {name: {value: np.asarray(rows, dtype=np.int64) for value, rows in found.items()}
                     for name, found in lists.items()}

    def _any_of(self, name: str, values, lower: bool) -> np.ndarray:
        allowed = np.zeros(self.size, dtype=bool)
        for value in values:
            rows = self.rows[name].get(str(value).lower() if lower else value)
            if rows is not None:
                allowed[rows] = True
        return allowed

    def mask(self, filters) -> np.ndarray:
        """Which records pass ``filters`` (a ``retriever.Filters``)."""
        passed = np.ones(self.size, dtype=bool)
        if filters.year_min is not None:
            passed &= self.year >= filters.year_min
        if filters.year_max is not None:
            passed &= (self.year >= 0) & (self.year <= filters.year_max)
        for name, lower in (("types", False), ("publication_types", True), ("journals", True), ("mesh", True),
                            ("ids", False)):
            values = getattr(filters, name)
            if values:
                passed &= self._any_of(name, values, lower)
        return passed
