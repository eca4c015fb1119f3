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
from .corpus.identity import combine, conflict, explicit_id, title_key, title_link, trust
from .corpus.records import Deletion, Rejected
from .encoders import Encoder, get_encoder
from .errors import AssistantError, CorpusError
from .store import BuildReport, KnowledgeBase, build, model_mismatch, not_writable
from .types import Record


@dataclass(frozen=True)
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    rejected: tuple[Rejected, ...] = ()
    build: BuildReport | None = None
    changes: tuple[str, ...] = ()      # "<id>: <fields> from <source id>" for every update
    duplicates: tuple[str, ...] = ()   # records kept apart that share a title or an identifier with another
    truncated: tuple[str, ...] = ()    # records whose text was cut to limits.MAX_TEXT_CHARS

    def summary(self) -> str:
        line = (f"added {self.added}, updated {self.updated}, unchanged {self.unchanged}, removed {self.removed}, "
                f"rejected {len(self.rejected)}")
        if self.duplicates:
            line += f", possible duplicates {len(self.duplicates)}"
        if self.truncated:
            line += f", truncated {len(self.truncated)}"
        if self.build is not None:
            line += f"; {self.build.summary()}"
        return line


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


def _same(a: Record, b: Record) -> bool:
    strip = lambda r: {k: v for k, v in r.to_dict().items() if k not in {"source_ids", "merged_types"}}  # noqa
    return strip(a) == strip(b)


class _Holdings:
    """The records being upserted, indexed by identifier and by normalised title (``identity``)."""

    def __init__(self, records: Sequence[Record]):
        self.records: list[Record] = []
        self.by_key: dict[str, list[int]] = {}
        self.ids: set[str] = set()
        for record in records:
            self.add(record)

    def keys(self, record: Record) -> list[str]:
        keys = paper_keys(record)
        if explicit_id(record):
            keys.append("id:" + record.id)
        return keys + [title_key(record.title)]

    def index(self, i: int) -> None:
        for key in self.keys(self.records[i]):
            if i not in self.by_key.setdefault(key, []):
                self.by_key[key].append(i)
        self.ids.add(self.records[i].id)

    def add(self, record: Record) -> int:
        self.records.append(record)
        self.index(len(self.records) - 1)
        return len(self.records) - 1

    def match(self, record: Record) -> tuple[int | None, list[str]]:
        """The one record ``record`` is the same paper as (or ``None``), and notes on near misses."""
        notes: list[str] = []
        for key in paper_keys(record) + (["id:" + record.id] if explicit_id(record) else []):
            for i in self.by_key.get(key, ()):
                why_not = conflict(self.records[i], record)
                if why_not is None:
                    return i, notes
                notes.append(f"shares {key} with {self.records[i].id}, but they have {why_not}")
        for i in self.by_key.get(title_key(record.title), ()):
            why_not = title_link(self.records[i], record)
            if why_not is None:
                return i, notes
            notes.append(f"same title as {self.records[i].id}, not linked: {why_not}")
        return None, notes

    def free_id(self, record: Record) -> Record:
        """``record`` under an id no other record has: its own, else one derived from title, year and author."""
        if record.id not in self.ids:
            return record
        base = title_key(f"{record.title}|{record.year or ''}|{record.authors[:200]}")
        candidate, n = base, 1
        while candidate in self.ids:
            n += 1
            candidate = f"{base}-{n}"
        return replace(record, id=candidate, source_ids=tuple(dict.fromkeys((*record.source_ids, candidate))))


def apply_changes(existing: Sequence[Record], incoming: Sequence[Record], deletions: Iterable[str] = (),
                  removals: Iterable[str] = (), strict: bool = False) -> tuple[list[Record], IngestReport]:
    """Upsert ``incoming`` into ``existing`` by the identity rules (``corpus.identity``), then drop deleted PMIDs
    and removed ids; return the records and a report of what changed. With ``strict``, a record that would be kept
    apart as a possible duplicate stops the ingest instead."""
    held = _Holdings(existing)
    added = updated = unchanged = 0
    touched: set[int] = set()
    changes: list[str] = []
    duplicates: list[str] = []
    for record in incoming:
        i, notes = held.match(record)
        if i is None:
            fresh = held.free_id(record)
            i = held.add(fresh)
            added += 1
            touched.add(i)
            if notes:
                if strict:
                    raise CorpusError(f"{record.id} ({record.title[:80]!r}) is a possible duplicate: {'; '.join(notes)} "
                                      "(--strict stops here; nothing was changed)")
                duplicates.append(f"{fresh.id} added apart: {'; '.join(notes)}")
            continue
        merged = combine(held.records[i], record)
        if merged.changed and not _same(merged.record, held.records[i]):
            changes.append(f"{held.records[i].id}: {', '.join(merged.changed)} from {record.id}"
                           + ("" if trust(record) >= trust(held.records[i]) else
                              " (filled in only: the record came from a less trusted source)"))
            held.records[i] = merged.record
            held.index(i)
            if i not in touched:
                updated += 1
        elif i not in touched:
            unchanged += 1
        touched.add(i)
    records = held.records
    rejected: list[Rejected] = []
    doomed = {i for pmid in deletions for i in held.by_key.get(f"pmid:{pmid}", ())}
    for ident in removals:
        i = _find(ident.strip(), records, held.by_key)
        if i is None:
            rejected.append(Rejected(ident, "no such record in the knowledge base"))
        else:
            doomed.add(i)
    kept = [r for i, r in enumerate(records) if i not in doomed]
    return kept, IngestReport(added, updated, unchanged, len(doomed), tuple(rejected), changes=tuple(changes),
                              duplicates=tuple(duplicates))


def _find(ident: str, records: Sequence[Record], where: dict[str, list[int]]) -> int | None:
    """A record by id, source id, PMID or DOI (with or without ``pmid:``/``doi:`` prefixes)."""
    doi = ident.lower().removeprefix("doi:").removeprefix("https://doi.org/")
    for key in (f"id:{ident}", f"pmid:{ident.removeprefix('pmid:')}", f"doi:{doi}"):
        if where.get(key):
            return where[key][0]
    return next((i for i, r in enumerate(records) if ident == r.id or ident in r.source_ids), None)


@contextmanager
def locked(index_dir: Path) -> Iterator[None]:
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        handle = (index_dir / ".lock").open("w")
    except OSError as exc:
        raise not_writable(index_dir, exc) from None
    with handle:
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
                          progress: bool = False, rejected: Sequence[Rejected] = (), strict: bool = False,
                          truncated: Sequence[str] = ()) -> IngestReport:
    """Apply record changes to the knowledge base at ``index_dir`` (created when missing)."""
    index_dir = Path(index_dir)
    with locked(index_dir):
        live = _live(index_dir)
        if encoder is None:
            chosen = model or (live.model if live else DEFAULT_MODEL)
            if live and chosen != live.model:
                raise model_mismatch(index_dir, live.model, chosen)
            encoder = get_encoder(chosen)
        kept, report = apply_changes(live.records if live else [], records, deletions, removals, strict)
        report = replace(report, rejected=tuple(rejected) + report.rejected, truncated=tuple(truncated))
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
                                 progress, batch.rejected, strict, batch.truncated)


def remove(ids: Sequence[str], index: str | Path | None = None, settings: Settings | None = None,
           encoder: Encoder | None = None) -> IngestReport:
    settings = settings or load_settings({"index": index})
    if not (settings.index_dir / "CURRENT").is_file():
        KnowledgeBase.load(settings.index_dir)  # raises the "build it with" error
    return update_knowledge_base(settings.index_dir, removals=ids, encoder=encoder)
