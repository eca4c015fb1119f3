"""The on-disk knowledge base: records, passages, vectors, a FAISS index and a manifest, swapped in atomically.

Layout of an index folder::

    CURRENT            one line: the name of the live version folder
    v-<stamp>-<hash>/  manifest.json, records.jsonl, passages.jsonl, vectors.npy, dense.faiss (exact, or IVF for
                       large knowledge bases: see dense_index), sparse/ (bm25s)

A build writes a complete new version folder beside the live one and then replaces ``CURRENT`` with
``os.replace``; a build that fails or is killed leaves the previous version live and loadable. Vectors are keyed by
a hash of the passage text, so a rebuild embeds only passages it has not seen with that model, and a build whose
corpus hash, model and settings equal the live manifest embeds nothing at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import __version__
from .corpus.merge import merge_records
from .dense_index import IVF_THRESHOLD, build_dense_index, load_dense_index, save_dense_index
from .encoders import Encoder, encode_in_batches, token_budget_of
from .errors import AssistantError, IndexMismatchError, IndexMissingError
from .passages import MAX_WORDS, split_records
from .sparse import ANALYSER, SparseIndex, sparse_texts
from .types import Passage, Record

FORMAT_NAME = "checkpoint-qa-index"
FORMAT_VERSION = 2
CURRENT = "CURRENT"


def _build_hint(index_dir: Path, model: str | None = None) -> str:
    extra = f" --model {model}" if model else ""
    return f"checkpoint-qa build --index {index_dir}{extra}"


def passage_key(passage: Passage) -> str:
    return hashlib.sha1(passage.text.encode("utf-8")).hexdigest()


def corpus_hash(records: Sequence[Record], max_words: int) -> str:
    # "fit": windows are also cut to the model's token limit; "subjects": title passages carry subject terms
    digest = hashlib.sha256(f"{FORMAT_VERSION}|{max_words}|fit|subjects|{ANALYSER}|".encode())
    for record in records:
        digest.update(json.dumps(record.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    with path.open("r", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _passage_row(p: Passage) -> dict:
    row = {"record_id": p.record_id, "ordinal": p.ordinal, "title": p.title, "body": p.body, "start": p.start,
           "end": p.end}
    if p.subjects:
        row["subjects"] = p.subjects
    return row


@dataclass(frozen=True)
class BuildReport:
    """What a build did: ``embedded`` passages were encoded now, ``reused`` came from the previous version."""

    index_dir: Path
    records: int
    passages: int
    embedded: int
    reused: int
    unchanged: bool
    model: str

    def summary(self) -> str:
        if self.unchanged:
            return (f"knowledge base at {self.index_dir} is up to date ({self.records} papers, "
                    f"{self.passages} passages, model {self.model}); nothing embedded")
        return (f"built {self.index_dir}: {self.records} papers, {self.passages} passages "
                f"({self.embedded} embedded, {self.reused} reused), model {self.model}")


class KnowledgeBase:
    """A loaded, read-only version of an index folder."""

    def __init__(self, path: Path, manifest: dict, records: list[Record], passages: list[Passage],
                 vectors: np.ndarray, index=None):
        self.path = path
        self.manifest = manifest
        self.records = records
        self.passages = passages
        self.vectors = vectors
        self._index = index
        self._sparse = None
        self.by_id = {r.id: r for r in records}
        rows = {r.id: i for i, r in enumerate(records)}
        self.passage_record = np.array([rows[p.record_id] for p in passages], dtype=np.int64)

    def passage_rows(self, record_row: int) -> np.ndarray:
        """Rows of a record's passages (they are stored contiguously, in record order)."""
        lo = int(np.searchsorted(self.passage_record, record_row, side="left"))
        hi = int(np.searchsorted(self.passage_record, record_row, side="right"))
        return np.arange(lo, hi)

    @property
    def model(self) -> str:
        return self.manifest["model"]

    @property
    def dimension(self) -> int:
        return int(self.manifest["dimension"])

    @property
    def index(self):
        if self._index is None:
            self._index = load_dense_index(self.path / "dense.faiss", self.manifest.get("dense_index"))
        return self._index

    @property
    def sparse(self):
        if self._sparse is None:
            from .sparse import SparseIndex
            self._sparse = SparseIndex.load(self.path / "sparse")
        return self._sparse

    def record(self, record_id: str) -> Record:
        try:
            return self.by_id[record_id]
        except KeyError:
            raise AssistantError(f"no record {record_id!r} in {self.path}; search to find record ids") from None

    @staticmethod
    def live_version(index_dir: Path) -> Path:
        index_dir = Path(index_dir)
        pointer = index_dir / CURRENT
        if not pointer.is_file():
            raise IndexMissingError(f"no knowledge base at {index_dir}; build it with: {_build_hint(index_dir)}")
        version = index_dir / pointer.read_text(encoding="utf-8").strip()
        if not (version / "manifest.json").is_file():
            raise IndexMissingError(
                f"knowledge base at {index_dir} is incomplete (missing {version.name}); rebuild it with: "
                f"{_build_hint(index_dir)}")
        return version

    @classmethod
    def read_manifest(cls, index_dir: Path) -> dict:
        version = cls.live_version(index_dir)
        try:
            manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            raise IndexMismatchError(f"manifest of {index_dir} is unreadable; rebuild with: {_build_hint(index_dir)}") \
                from None
        if manifest.get("format") != FORMAT_NAME or manifest.get("format_version") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"knowledge base at {index_dir} has format {manifest.get('format')} v{manifest.get('format_version')}"
                f", this version reads {FORMAT_NAME} v{FORMAT_VERSION}; rebuild with: {_build_hint(index_dir)}")
        return manifest

    @classmethod
    def load(cls, index_dir: Path) -> "KnowledgeBase":
        index_dir = Path(index_dir)
        manifest = cls.read_manifest(index_dir)
        version = cls.live_version(index_dir)
        try:
            records = [Record.from_dict(row) for row in _read_jsonl(version / "records.jsonl")]
            passages = [Passage(**row) for row in _read_jsonl(version / "passages.jsonl")]
            vectors = np.load(version / "vectors.npy", mmap_mode="r")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexMismatchError(
                f"knowledge base at {index_dir} is damaged ({type(exc).__name__}); rebuild with: "
                f"{_build_hint(index_dir)}") from None
        if vectors.shape != (len(passages), manifest["dimension"]) or len(records) != manifest["records"]:
            raise IndexMismatchError(
                f"knowledge base at {index_dir} does not match its manifest; rebuild with: {_build_hint(index_dir)}")
        return cls(version, manifest, records, passages, vectors)


def describe(kb: KnowledgeBase) -> dict:
    """Plain facts about a loaded knowledge base, for ``checkpoint-qa info`` and the UI."""
    years = [r.year for r in kb.records if r.year]
    types: dict[str, int] = {}
    for record in kb.records:
        types[record.type] = types.get(record.type, 0) + 1
    return {
        "path": str(kb.path.parent),
        "records": len(kb.records),
        "passages": len(kb.passages),
        "types": dict(sorted(types.items(), key=lambda item: -item[1])),
        "years": {"min": min(years, default=None), "max": max(years, default=None),
                  "unknown": len(kb.records) - len(years)},
        "model": kb.model,
        "dimension": kb.dimension,
        "bytes": sum(f.stat().st_size for f in kb.path.iterdir() if f.is_file()),
        "built_at": kb.manifest.get("built_at"),
        "package_version": kb.manifest.get("package_version"),
        "format_version": kb.manifest.get("format_version"),
    }


def model_mismatch(index_dir: Path, built_with: str, chosen: str) -> IndexMismatchError:
    """The one error for "this knowledge base was built with another model", with both ways out."""
    return IndexMismatchError(
        f"knowledge base at {index_dir} was built with model {built_with!r} but {chosen!r} is configured; "
        f"use --model {built_with} or rebuild with: {_build_hint(index_dir, chosen)}")


def _encoded_alike(manifest: dict, model: str, precision: str) -> bool:
    """Whether an index with ``manifest`` was embedded by ``model`` at ``precision``."""
    return manifest.get("model") == model and manifest.get("precision", "fp32") == precision


def _previous_vectors(index_dir: Path, model: str, dimension: int, precision: str,
                      kb: KnowledgeBase | None = None) -> dict[str, np.ndarray]:
    """Vectors of the live version (``kb`` when the caller has it loaded) keyed by passage hash, when it was
    built with the same model at the same precision (so the manifest's precision is true of every vector)."""
    if kb is None:
        try:
            kb = KnowledgeBase.load(index_dir)
        except AssistantError:
            return {}
    if not _encoded_alike(kb.manifest, model, precision) or kb.dimension != dimension:
        return {}
    return {passage_key(p): kb.vectors[i] for i, p in enumerate(kb.passages)}


def _sweep(index_dir: Path, keep: str) -> None:
    """Remove versions other than ``keep`` and abandoned build folders of processes that no longer run."""
    for child in index_dir.iterdir():
        if child.name == keep or not child.is_dir():
            continue
        if child.name.startswith("v-"):
            shutil.rmtree(child, ignore_errors=True)
        elif child.name.startswith(".building-"):
            pid = child.name.split("-")[1]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(child, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build(records: Sequence[Record], index_dir: Path, encoder: Encoder, *, max_words: int = MAX_WORDS,
          progress: bool = False, on_stage: Callable[[str], None] | None = None,
          ivf_threshold: int = IVF_THRESHOLD, live: KnowledgeBase | None = None) -> BuildReport:
    """Merge, split, embed and write ``records`` as the new live version of ``index_dir``.

    ``live`` is the live version when the caller has already loaded it (ingestion does), so it is not read twice.
    """
    say = on_stage or (lambda message: None)
    index_dir = Path(index_dir)
    papers = merge_records(records)
    if not papers:
        raise AssistantError("the corpus is empty; add at least one record")
    digest = corpus_hash(papers, max_words)
    if live is not None:
        manifest = live.manifest
    else:
        try:
            manifest = KnowledgeBase.read_manifest(index_dir)
        except AssistantError:
            manifest = None
    precision = getattr(encoder, "precision", "fp32")
    if manifest and manifest.get("corpus_hash") == digest and _encoded_alike(manifest, encoder.name, precision):
        return BuildReport(index_dir, manifest["records"], manifest["passages"], 0, manifest["passages"], True,
                           encoder.name)

    dimension = encoder.dimension
    budget = token_budget_of(encoder)
    passages = split_records(papers, max_words, budget)
    previous = _previous_vectors(index_dir, encoder.name, dimension, precision, live)
    keys = [passage_key(p) for p in passages]
    missing = [i for i, key in enumerate(keys) if key not in previous]
    runtime = ", ".join(str(v) for v in (getattr(encoder, "backend", None), getattr(encoder, "precision", None)) if v)
    say(f"embedding {len(missing)} of {len(passages)} passages with {encoder.name}" + (f" ({runtime})" if runtime
                                                                                       else "")
        + f", indexing {len(passages)} for BM25")
    # BM25 indexing takes ~2% of a build; run beside the encoder it fills the moments a core waits for work
    with ThreadPoolExecutor(1, thread_name_prefix="bm25") as pool:
        sparse_job = pool.submit(SparseIndex.build, sparse_texts(papers, passages))
        fresh = encode_in_batches(encoder, [passages[i].text for i in missing], progress=progress)
        sparse = sparse_job.result()
    if fresh.shape[1:] != (dimension,):
        raise AssistantError(f"model {encoder.name} returned vectors of shape {fresh.shape[1:]}, expected "
                             f"({dimension},)")
    vectors = np.zeros((len(passages), dimension), dtype=np.float32)
    fresh_rows = dict(zip(missing, range(len(missing))))
    for i, key in enumerate(keys):
        vectors[i] = fresh[fresh_rows[i]] if i in fresh_rows else previous[key]

    index_dir.mkdir(parents=True, exist_ok=True)
    staging = index_dir / f".building-{os.getpid()}-{time.time_ns()}"
    staging.mkdir()
    try:
        _write_jsonl(staging / "records.jsonl", (r.to_dict() for r in papers))
        _write_jsonl(staging / "passages.jsonl", (_passage_row(p) for p in passages))
        np.save(staging / "vectors.npy", vectors)
        index, dense_info = build_dense_index(vectors, ivf_threshold)
        save_dense_index(index, staging / "dense.faiss")
        sparse.save(staging / "sparse")
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "package_version": __version__,
            "model": encoder.name,
            "dimension": dimension,
            "precision": precision,
            "encoder_backend": getattr(encoder, "backend", "other"),
            "metric": "inner_product on unit vectors (cosine)",
            "dense_index": dense_info.to_dict(),
            "sparse": {"method": "bm25s (lucene)", "analyser": ANALYSER},
            "records": len(papers),
            "passages": len(passages),
            "passage_max_words": max_words,
            "passage_max_tokens": budget.limit if budget else None,
            "corpus_hash": digest,
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        version = f"v-{datetime.now(timezone.utc):%Y%m%dT%H%M%S.%f}-{digest[:8]}-{os.getpid()}"
        os.rename(staging, index_dir / version)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    pointer_tmp = index_dir / f".{CURRENT}.{os.getpid()}.tmp"
    pointer_tmp.write_text(version + "\n", encoding="utf-8")
    with pointer_tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(pointer_tmp, index_dir / CURRENT)
    _sweep(index_dir, keep=version)
    return BuildReport(index_dir, len(papers), len(passages), len(missing), len(passages) - len(missing), False,
                       encoder.name)
