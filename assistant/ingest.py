"""Add literature to a knowledge base: parse files, upsert records, delete, rebuild only what changed.

Records are matched to what the knowledge base holds by PMID, then DOI, then normalised-title hash. A matched
record that differs replaces the old one (fields only the old one had, such as ``ref_number``, are kept); an
identical one is left alone. The new record set is written through ``store.build``, which embeds only passages it
has not embedded before and swaps the new version in atomically. A lock file serialises concurrent ingests into
the same folder so that no update is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .config import DEFAULT_MODEL, Settings, load_settings
from .corpus.collect import collect, input_files
from .corpus.merge import paper_keys
from .corpus.identity import combine, conflict, explicit_id, title_key, title_link, trust
from .corpus.records import Rejected
from .encoders import Encoder, get_encoder
from .errors import AssistantError, CorpusError
from .kb.store import BuildReport, KnowledgeBase, build, locked, model_mismatch
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
    files: tuple["FileReport", ...] = ()  # what each input file did, in the order read

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


@dataclass(frozen=True)
class FileReport:
    """One input file's effect: records added, updated or unchanged, records its deletions removed, items rejected."""

    name: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    rejected: int = 0
    added_ids: tuple[str, ...] = ()  # the records this file added (what undoing the file removes)

    def line(self) -> str:
        counts = [f"{n} {label}" for n, label in ((self.added, "added"), (self.updated, "updated"),
                                                   (self.unchanged, "unchanged"), (self.removed, "removed"),
                                                   (self.rejected, "rejected")) if n]
        return f"{self.name}: {', '.join(counts) or 'nothing read'}"


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


class Upsert:
    """Records merged into a knowledge base's holdings one file at a time, so each file's effect can be reported.

    A record matched to one that an earlier file deleted brings it back (a later file re-adding a PMID wins).
    """

    def __init__(self, existing: Sequence[Record], strict: bool = False):
        self.held = _Holdings(existing)
        self.strict = strict
        self.touched: set[int] = set()
        self.doomed: set[int] = set()
        self.changes: list[str] = []
        self.duplicates: list[str] = []
        self.rejected: list[Rejected] = []
        self.added = self.updated = self.unchanged = 0
        self.last_added: list[str] = []  # ids of the records the latest ``add`` call added

    def add(self, incoming: Iterable[Record]) -> tuple[int, int, int]:
        """Upsert ``incoming``; returns how many of them were added, changed a held record, or changed nothing.

        The totals of the report count each held record once (an update after an add is still one addition);
        these per-call counts say what this batch did."""
        added = changed = same = 0
        held = self.held
        self.last_added = []
        for record in incoming:
            i, notes = held.match(record)
            if i is None:
                fresh = held.free_id(record)
                i = held.add(fresh)
                self.added += 1
                added += 1
                self.touched.add(i)
                self.last_added.append(fresh.id)
                if notes:
                    if self.strict:
                        raise CorpusError(f"{record.id} ({record.title[:80]!r}) is a possible duplicate: "
                                          f"{'; '.join(notes)} (--strict stops here; nothing was changed)")
                    self.duplicates.append(f"{fresh.id} added apart: {'; '.join(notes)}")
                continue
            if i in self.doomed:  # deleted by an earlier file, brought back by this one
                self.doomed.discard(i)
                self.added += 1
                added += 1
            merged = combine(held.records[i], record)
            if merged.changed and not _same(merged.record, held.records[i]):
                self.changes.append(f"{held.records[i].id}: {', '.join(merged.changed)} from {record.id}"
                                    + ("" if trust(record) >= trust(held.records[i]) else
                                       " (filled in only: the record came from a less trusted source)"))
                held.records[i] = merged.record
                held.index(i)
                changed += 1
                if i not in self.touched:
                    self.updated += 1
            else:
                same += 1
                if i not in self.touched:
                    self.unchanged += 1
            self.touched.add(i)
        return added, changed, same

    def delete(self, pmids: Iterable[str]) -> int:
        """Drop the records with these PMIDs (PubMed ``DeleteCitation``); returns how many were held."""
        found = {i for pmid in pmids for i in self.held.by_key.get(f"pmid:{pmid}", ())} - self.doomed
        self.doomed |= found
        return len(found)

    def remove(self, idents: Iterable[str]) -> int:
        """Drop records by id, PMID or DOI; an identifier that matches nothing is reported as rejected."""
        before = len(self.doomed)
        for ident in idents:
            i = _find(ident.strip(), self.held.records, self.held.by_key)
            if i is None:
                self.rejected.append(Rejected(ident, "no such record in the knowledge base"))
            else:
                self.doomed.add(i)
        return len(self.doomed) - before

    def result(self) -> tuple[list[Record], IngestReport]:
        kept = [r for i, r in enumerate(self.held.records) if i not in self.doomed]
        return kept, IngestReport(self.added, self.updated, self.unchanged, len(self.doomed), tuple(self.rejected),
                                  changes=tuple(self.changes), duplicates=tuple(self.duplicates))


def apply_changes(existing: Sequence[Record], incoming: Sequence[Record], deletions: Iterable[str] = (),
                  removals: Iterable[str] = (), strict: bool = False) -> tuple[list[Record], IngestReport]:
    """Upsert ``incoming`` into ``existing`` by the identity rules (``corpus.identity``), then drop deleted PMIDs
    and removed ids; return the records and a report of what changed. With ``strict``, a record that would be kept
    apart as a possible duplicate stops the ingest instead."""
    upsert = Upsert(existing, strict)
    upsert.add(incoming)
    upsert.delete(deletions)
    upsert.remove(removals)
    return upsert.result()


def _find(ident: str, records: Sequence[Record], where: dict[str, list[int]]) -> int | None:
    """A record by id, source id, PMID or DOI (with or without ``pmid:``/``doi:`` prefixes)."""
    doi = ident.lower().removeprefix("doi:").removeprefix("https://doi.org/")
    for key in (f"id:{ident}", f"pmid:{ident.removeprefix('pmid:')}", f"doi:{doi}"):
        if where.get(key):
            return where[key][0]
    return next((i for i, r in enumerate(records) if ident == r.id or ident in r.source_ids), None)


def _live(index_dir: Path) -> KnowledgeBase | None:
    """The live version, or ``None`` for a folder that holds no knowledge base yet (a damaged one raises)."""
    try:
        return KnowledgeBase.load(index_dir)
    except AssistantError:
        if (index_dir / "CURRENT").exists():
            raise
        return None


def _update(index_dir: Path, model: str | None, encoder: Encoder | None, progress: bool,
            apply: Callable[[Sequence[Record]], tuple[list[Record], IngestReport]], embedder=None) -> IngestReport:
    """Under the folder's lock: load the live version, ``apply`` the changes to its records, build when any.
    ``embedder(encoder)``, when given, returns the ``store.build`` ``embed`` to use (``kb.ray_build.on_ray``)."""
    index_dir = Path(index_dir)
    with locked(index_dir):
        live = _live(index_dir)
        if encoder is None:
            chosen = model or (live.model if live else DEFAULT_MODEL)
            if live and chosen != live.model:
                raise model_mismatch(index_dir, live.model, chosen)
            encoder = get_encoder(chosen)
        kept, report = apply(live.records if live else [])
        if not (report.added or report.updated or report.removed):
            return report
        if not kept:
            raise AssistantError(f"this would leave the knowledge base at {index_dir} empty; delete the folder "
                                 "instead")
        embed = embedder(encoder) if embedder is not None else None
        return replace(report, build=build(kept, index_dir, encoder, progress=progress, live=live, embed=embed))


def update_knowledge_base(index_dir: Path, records: Sequence[Record] = (), deletions: Iterable[str] = (),
                          removals: Iterable[str] = (), model: str | None = None, encoder: Encoder | None = None,
                          progress: bool = False, rejected: Sequence[Rejected] = (), strict: bool = False,
                          truncated: Sequence[str] = ()) -> IngestReport:
    """Apply record changes to the knowledge base at ``index_dir`` (created when missing)."""
    def apply(existing: Sequence[Record]) -> tuple[list[Record], IngestReport]:
        kept, report = apply_changes(existing, records, deletions, removals, strict)
        return kept, replace(report, rejected=tuple(rejected) + report.rejected, truncated=tuple(truncated))
    return _update(index_dir, model, encoder, progress, apply)


def _upsert_files(files: Sequence[Path], fmt: str | None, strict: bool, progress: bool):
    """An ``apply`` for ``_update``: read each file and upsert its records, noting what each file did."""
    def apply(existing: Sequence[Record]) -> tuple[list[Record], IngestReport]:
        upsert, reports, rejected, truncated = Upsert(existing, strict), [], [], []
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(files), desc="ingesting", unit=" file", leave=False)
        for path in files:
            batch = collect([path], fmt, strict)
            added, updated, unchanged = upsert.add(batch.records)
            removed = upsert.delete(batch.deletions)
            reports.append(FileReport(path.name, added, updated, unchanged, removed, len(batch.rejected),
                                      tuple(upsert.last_added)))
            rejected += batch.rejected
            truncated += batch.truncated
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(reports[-1].line()[:60])
        if bar is not None:
            bar.close()
        kept, report = upsert.result()
        return kept, replace(report, rejected=tuple(rejected) + report.rejected, truncated=tuple(truncated),
                             files=tuple(reports))
    return apply


def ingest(paths: Sequence[str | Path], index: str | Path | None = None, fmt: str | None = None,
           strict: bool = False, model: str | None = None, encoder: Encoder | None = None,
           settings: Settings | None = None, progress: bool = False, embedder=None) -> IngestReport:
    """Parse ``paths`` (files of any supported format, or folders of them) and add their records to a knowledge
    base, file by file: the report says what each file added, updated, removed or rejected. ``embedder`` embeds
    elsewhere (``kb.ray_build.on_ray``: a Ray cluster)."""
    settings = settings or load_settings({"index": index, "model": model})
    files = input_files(paths)
    if encoder is None:  # the default knowledge base is the shipped corpus plus what you add
        from .pipeline import ensure_default_knowledge_base
        ensure_default_knowledge_base(settings)
    return _update(settings.index_dir, settings.model, encoder, progress, _upsert_files(files, fmt, strict, progress),
                   embedder)


def remove(ids: Sequence[str], index: str | Path | None = None, settings: Settings | None = None,
           encoder: Encoder | None = None) -> IngestReport:
    settings = settings or load_settings({"index": index})
    if not (settings.index_dir / "CURRENT").is_file():
        KnowledgeBase.load(settings.index_dir)  # raises the "build it with" error
    return update_knowledge_base(settings.index_dir, removals=ids, encoder=encoder)
