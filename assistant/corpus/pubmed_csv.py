"""PubMed's CSV export ("Save, format: CSV"): one paper a row, no abstracts; read with the ``csv`` module."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

from .records import Item, Rejected, make_record
from .source import open_text

REQUIRED = {"PMID", "Title"}


def read_pubmed_csv(path: Path) -> Iterator[Item]:
    path = Path(path)
    with open_text(path, "csv", newline="") as handle:
        reader = csv.DictReader(handle)
        header = set(reader.fieldnames or [])
        if not REQUIRED <= header:
            yield Rejected(f"{path.name}:1", f"not a PubMed CSV export (needs columns {', '.join(sorted(REQUIRED))}"
                                             f"; found {', '.join(sorted(header)) or 'none'})")
            return
        for row in reader:
            pmid = (row.get("PMID") or "").strip()
            yield make_record(
                f"{path.name}:{reader.line_num}",
                title=row.get("Title"),
                authors=(row.get("Authors") or "").strip().rstrip("."),
                journal=row.get("Journal/Book") or "",
                year=row.get("Publication Year") or row.get("Create Date"),
                doi=row.get("DOI"),
                pmid=pmid,
                url=f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" if pmid.isdigit() else None,
                citation=(row.get("Citation") or "").strip(),
                pmcid=(row.get("PMCID") or "").strip(),
            )
