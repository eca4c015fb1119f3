"""Add literature to a knowledge base: parse files, upsert records, delete, rebuild only what changed.

Records are matched to what the knowledge base holds by PMID, then DOI, then normalised-title hash. A matched
record that differs replaces the old one (fields only the old one had, such as ``ref_number``, are kept); an
identical one is left alone. The new record set is written through ``store.build``, which embeds only passages it
has not embedded before and swaps the new version in atomically. A lock file serialises concurrent ingests into
the same folder so that no update is lost.
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .config import DEFAULT_MODEL, Settings, load_settings
from .corpus.detect import read_items
from .corpus.merge import paper_keys
from .corpus.records import Deletion, Rejected, title_key
from .encoders import Encoder, get_encoder
from .errors import AssistantError, CorpusError
from .store import BuildReport, KnowledgeBase, build, model_mismatch
from .types import Record


@dataclass(frozen=True)
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    rejected: tuple[Rejected, ...] = ()
    build: BuildReport | None = None

    def summary(self) -> str:
        line = (f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, removed {self.removed}, "
                f"rejected {len(self.rejected)}")
        if self.build is not None:
            line += f"; {self.build.summary()}"
        return line


@dataclass
class Batch:
    """What a set of files contributed: records to upsert, PMIDs to delete, items rejected."""

    records: list[Record] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


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


def _keys(record: Record) -> list[str]:
    return paper_keys(record) + [title_key(record.title)]


def _combine(old: Record, new: Record) -> Record:
    extra = {**old.extra, **new.extra}
    extra.pop("merged_types", None)
    ids = tuple(dict.fromkeys(old.source_ids + new.source_ids))
    combined = replace(new, extra=extra, source_ids=ids)
    if combined.id != old.id and not new.pmid and not new.doi:
        combined = replace(combined, id=old.id)
    return combined


def _same(a: Record, b: Record) -> bool:
    strip = lambda r: {k: v for k, v in r.to_dict().items() if k not in {"source_ids", "merged_types"}}  # noqa
    return strip(a) == strip(b)


def apply_changes(existing: Sequence[Record], incoming: Sequence[Record], deletions: Iterable[str] = (),
                  removals: Iterable[str] = ()) -> tuple[list[Record], IngestReport]:
    """Upsert ``incoming`` into ``existing``, then drop deleted PMIDs and removed ids; return records and counts."""
    records: list[Record] = list(existing)
    where: dict[str, int] = {}
    for i, record in enumerate(records):
        for key in _keys(record):
            where.setdefault(key, i)
    added = updated = unchanged = 0
    touched: set[int] = set()
    for record in incoming:
        i = next((where[k] for k in _keys(record) if k in where), None)
        if i is None:
            records.append(record)
            i = len(records) - 1
            added += 1
            touched.add(i)
        else:
            combined = _combine(records[i], record)
            if _same(combined, records[i]):
                if i not in touched:
                    unchanged += 1
            else:
                records[i] = combined
                if i not in touched:
                    updated += 1
            touched.add(i)
        for key in _keys(records[i]):
            where.setdefault(key, i)
    rejected: list[Rejected] = []
    doomed = {where[f"pmid:{pmid}"] for pmid in deletions if f"pmid:{pmid}" in where}
    for ident in removals:
        i = _find(ident.strip(), records, where)
        if i is None:
            rejected.append(Rejected(ident, "no such record in the knowledge base"))
        else:
            doomed.add(i)
    kept = [r for i, r in enumerate(records) if i not in doomed]
    removed = len(doomed)
    return kept, IngestReport(added, updated, unchanged, removed, tuple(rejected))


def _find(ident: str, records: Sequence[Record], where: dict[str, int]) -> int | None:
    """A record by id, source id, PMID or DOI (with or without ``pmid:``/``doi:`` prefixes)."""
    doi = ident.lower().removeprefix("doi:").removeprefix("https://doi.org/")
    for key in (ident, f"pmid:{ident.removeprefix('pmid:')}", f"doi:{doi}"):
        if key in where:
            return where[key]
    return next((i for i, r in enumerate(records) if ident == r.id or ident in r.source_ids), None)


@contextmanager
def locked(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _live(index_dir: Path) -> KnowledgeBase | None:
    """The live version, or ``None`` for a folder that holds no knowledge base yet (a damaged one raises)."""
    try:
        return KnowledgeBase.load(index_dir)
    except AssistantError:
        if (index_dir / "CURRENT").exists():
            raise
        return None


def update_knowledge_base(index_dir: Path, records: Sequence[Record] = (), deletions: Iterable[str] = (),
                          removals: Iterable[str] = (), model: str | None = None, encoder: Encoder | None = None,
                          progress: bool = False, rejected: Sequence[Rejected] = ()) -> IngestReport:
    """Apply record changes to the knowledge base at ``index_dir`` (created when missing)."""
    index_dir = Path(index_dir)
    with locked(index_dir):
        live = _live(index_dir)
        if encoder is None:
            chosen = model or (live.model if live else DEFAULT_MODEL)
            if live and chosen != live.model:
                raise model_mismatch(index_dir, live.model, chosen)
            encoder = get_encoder(chosen)
        kept, report = apply_changes(live.records if live else [], records, deletions, removals)
        report = replace(report, rejected=tuple(rejected) + report.rejected)
        if not (report.added or report.updated or report.removed):
            return report
        if not kept:
            raise AssistantError(f"this would leave the knowledge base at {index_dir} empty; delete the folder "
                                 "instead")
        return replace(report, build=build(kept, index_dir, encoder, progress=progress, live=live))


def ingest(paths: Sequence[str | Path], index: str | Path | None = None, fmt: str | None = None,
           strict: bool = False, model: str | None = None, encoder: Encoder | None = None,
           settings: Settings | None = None, progress: bool = False) -> IngestReport:
    """Parse ``paths`` (any supported format) and add their records to a knowledge base."""
    settings = settings or load_settings({"index": index, "model": model})
    batch = collect(paths, fmt, strict, progress)
    return update_knowledge_base(settings.index_dir, batch.records, batch.deletions, (), settings.model, encoder,
                                 progress, batch.rejected)


def remove(ids: Sequence[str], index: str | Path | None = None, settings: Settings | None = None,
           encoder: Encoder | None = None) -> IngestReport:
    settings = settings or load_settings({"index": index})
    if not (settings.index_dir / "CURRENT").is_file():
        KnowledgeBase.load(settings.index_dir)  # raises the "build it with" error
    return update_knowledge_base(settings.index_dir, removals=ids, encoder=encoder)
