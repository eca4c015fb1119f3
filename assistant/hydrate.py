"""Fill in papers known by their title only with their PubMed abstract and metadata (``fetch --hydrate``).

A title-only record is looked up by what identifies it best: its PMID; else its DOI (``"doi"[DOI]``, accepted only
when PubMed finds exactly one record); else its exact title (``"title"[Title]``). Every fetched record is then
checked against the one it should fill: same PMID, same DOI, or the same normalised title (``identity``); a
record that fails the check is left alone and reported, never merged on a guess. The merge is ``identity.combine``:
nothing the knowledge base holds is lost, and fields from the curated corpus win over PubMed's where both have one.

Requests go through ``fetch.EUtilsClient`` (NCBI's rate limits, retries, one clear line when offline) and every
answer is cached in the knowledge base folder, so a second run asks NCBI nothing it asked before. Offline, nothing
changes and the error says so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .corpus.identity import combine, doi_key, normalise_title
from .corpus.detect import read_items
from .encoders import Encoder
from .errors import AssistantError
from .fetch import OFFLINE_HINT, EUtilsClient, _write_atomic
from .ingest import IngestReport, _update
from .kb.store import BuildReport, KnowledgeBase
from .types import Record

BATCH = 200


@dataclass(frozen=True)
class HydrateReport:
    wanted: int                       # title-only records looked up
    filled: tuple[str, ...] = ()      # "<id>: <fields>" for each record that gained text or metadata
    not_found: tuple[str, ...] = ()   # "<id>: <title> (<why>)" for each left as it was
    build: BuildReport | None = None

    def summary(self) -> str:
        line = (f"looked up {self.wanted} title-only papers: {len(self.filled)} filled in from PubMed, "
                f"{len(self.not_found)} not found")
        return line + (f"; {self.build.summary()}" if self.build else "")


def title_only(records: Sequence[Record]) -> list[Record]:
    return [r for r in records if not r.text]


class _Cache:
    """E-utilities answers saved by request, so nothing is asked twice."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, kind: str, key: str, suffix: str) -> Path:
        return self.folder / f"{kind}-{hashlib.sha1(key.encode()).hexdigest()[:20]}{suffix}"

    def search(self, client: EUtilsClient, term: str) -> list[str]:
        path = self.path("esearch", term, ".json")
        if path.is_file():
            return json.loads(path.read_text())
        count, ids = client.esearch_ids(term)
        ids = ids if count <= 5 else []  # a title search with many hits is not an exact match
        _write_atomic(path, json.dumps(ids).encode())
        return ids

    def fetch(self, client: EUtilsClient, pmids: list[str]) -> list[Record]:
        """PubMed's records for ``pmids``; only those no earlier run fetched are asked for."""
        index_path = self.folder / "efetch-index.json"
        saved: dict[str, str] = json.loads(index_path.read_text()) if index_path.is_file() else {}
        wanted = sorted(set(pmids))
        new = [p for p in wanted if p not in saved]
        for start in range(0, len(new), BATCH):
            batch = new[start:start + BATCH]
            path = self.path("efetch", ",".join(batch), ".xml")
            data = client.efetch_ids(batch)
            if b"<PubmedArticleSet" not in data[:2000]:
                raise AssistantError("E-utilities sent something other than PubMed XML; try again later")
            _write_atomic(path, data)
            saved.update({pmid: path.name for pmid in batch})
            _write_atomic(index_path, json.dumps(saved).encode())
        found: list[Record] = []
        for name in sorted({saved[p] for p in wanted}):
            found += [item for item in read_items(self.folder / name, "pubmed-xml")
                      if isinstance(item, Record) and item.pmid in set(wanted)]
        return found


def _term(record: Record) -> str:
    if record.doi:
        return f'"{record.doi}"[DOI]'
    return '"' + record.title.replace('"', " ").rstrip(".") + '"[Title]'


def _same_paper(target: Record, found: Record) -> bool:
    if target.pmid:
        return found.pmid == target.pmid
    if target.doi:
        return bool(found.doi) and doi_key(found.doi) == doi_key(target.doi)
    return normalise_title(found.title) == normalise_title(target.title)


def hydrate(index_dir: Path, client: EUtilsClient, progress: bool = False, encoder: Encoder | None = None) \
        -> HydrateReport:
    """Look up the knowledge base's title-only records in PubMed and merge what is found into them."""
    index_dir = Path(index_dir)
    kb = KnowledgeBase.load(index_dir)
    targets = title_only(kb.records)
    if not targets:
        return HydrateReport(0)
    cache = _Cache(index_dir / "fetch-cache" / "hydrate")
    candidates: dict[str, list[str]] = {}
    missing: list[str] = []
    steps = targets
    if progress:
        from tqdm import tqdm
        steps = tqdm(targets, desc="looking up", unit=" paper", leave=False)
    try:
        for record in steps:
            ids = [record.pmid] if record.pmid else cache.search(client, _term(record))
            if ids:
                candidates[record.id] = ids
            else:
                missing.append(f"{record.id}: {record.title[:80]} (PubMed finds no record with this "
                               f"{'DOI' if record.doi else 'exact title'})")
        fetched = cache.fetch(client, sorted({pmid for ids in candidates.values() for pmid in ids}))
    except AssistantError as exc:
        if "cannot reach" in str(exc):
            raise AssistantError(f"cannot reach PubMed, so nothing changed: {len(targets)} papers are still known "
                                 f"by title only. {OFFLINE_HINT}") from None
        raise
    by_pmid = {r.pmid: r for r in fetched}
    matches: dict[str, Record] = {}
    for record in targets:
        found = [by_pmid[p] for p in candidates.get(record.id, ()) if p in by_pmid]
        same = [f for f in found if _same_paper(record, f)]
        if len(same) == 1:
            matches[record.id] = same[0]
        elif record.id in candidates:
            missing.append(f"{record.id}: {record.title[:80]} ("
                           + ("PubMed's record does not match it" if not same else "several PubMed records match")
                           + ")")
    filled: list[str] = []

    def apply(existing: Sequence[Record]) -> tuple[list[Record], IngestReport]:
        out = []
        for record in existing:
            found = matches.get(record.id)
            if found is not None and not record.text:
                merged = combine(record, found)
                if merged.changed:
                    filled.append(f"{record.id}: {', '.join(merged.changed)}")
                    record = merged.record
            out.append(record)
        return out, IngestReport(updated=len(filled))

    report = _update(index_dir, None, encoder, progress, apply)
    return HydrateReport(len(targets), tuple(filled), tuple(missing), report.build)
