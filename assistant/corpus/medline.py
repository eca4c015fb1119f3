"""MEDLINE text (PubMed "Save, format: PubMed", ``.nbib``/``.txt``), parsed with Biopython's ``Bio.Medline``."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from Bio import Medline

from .records import Item, make_record
from .source import open_text


def _as_list(value) -> list[str]:
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


def medline_record(entry: dict, where: str) -> Item:
    pmid = entry.get("PMID", "")
    doi = next((a for a in _as_list(entry.get("AID")) + _as_list(entry.get("LID")) if "[doi]" in a), None)
    label = f"{where} (PMID {pmid})" if pmid else where
    return make_record(
        label,
        title=entry.get("TI") or entry.get("BTI") or "",
        text=entry.get("AB", ""),
        authors=", ".join(_as_list(entry.get("AU"))),
        journal=entry.get("TA") or entry.get("JT") or "",
        year=entry.get("DP", ""),
        doi=doi.replace("[doi]", "") if doi else None,
        pmid=pmid,
        url=f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" if pmid else None,
        publication_types=_as_list(entry.get("PT")),
        mesh_terms=[m.split("/")[0].lstrip("*") for m in _as_list(entry.get("MH"))],
        keywords=_as_list(entry.get("OT")),
        language=_as_list(entry.get("LA")),
    )


def read_medline(path: Path) -> Iterator[Item]:
    path = Path(path)
    with open_text(path, "medline") as handle:
        for number, entry in enumerate(Medline.parse(handle), start=1):
            yield medline_record(entry, f"{path.name}: record {number}")
