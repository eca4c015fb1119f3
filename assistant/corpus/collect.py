"""Reading files of any supported format into records: the files a path names (``input_files``) and what they hold
(``collect``: records, PubMed ``DeleteCitation`` PMIDs and rejected items). Ingest, the build from sources and its
Ray tasks all read through here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import CorpusError
from ..types import Record
from .detect import read_items, supported
from .records import Deletion, Rejected


def input_files(paths: Sequence[str | Path]) -> list[Path]:
    """The files to read: each file given, and every supported file under each folder given (in name order)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and supported(p))
            if not found:
                raise CorpusError(f"{path}: no files to ingest (PubMed XML, JATS, PDF, MEDLINE, RIS, BibTeX, CSV, "
                                  "JSON Lines, each optionally .gz)")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise CorpusError(f"{path}: no such file or folder")
    return list(dict.fromkeys(files))


@dataclass
class Batch:
    """What a set of files contributed: records to upsert, PMIDs to delete, items rejected."""

    records: list[Record] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def truncated(self) -> list[str]:
        return [f"{r.id}: text cut from {r.extra['truncated_from']:,} to {len(r.text):,} characters"
                for r in self.records if r.extra.get("truncated_from")]


def collect(paths: Sequence[str | Path], fmt: str | None = None, strict: bool = False,
            progress: bool = False) -> Batch:
    """Parse every file; with ``strict`` the first rejection raises, naming file and line or record."""
    batch = Batch()
    items: Iterable = (item for path in paths for item in read_items(Path(path), fmt))
    if progress:
        from tqdm import tqdm
        items = tqdm(items, desc="parsing", unit=" records", leave=False)
    for item in items:
        if isinstance(item, Rejected):
            if strict:
                raise CorpusError(f"{item} (--strict stops at the first bad record; nothing was changed)")
            batch.rejected.append(item)
        elif isinstance(item, Deletion):
            batch.deletions.append(item.pmid)
        else:
            batch.records.append(item)
    return batch
