"""The on-disk knowledge base: records, passages, vectors, a FAISS index and a manifest, swapped in atomically.

Layout of an index folder::

    CURRENT            one line: the name of the live version folder
    v-<stamp>-<hash>/  manifest.json, records.jsonl, passages.jsonl, vectors.npy, dense.faiss (exact, or IVF for
                       large knowledge bases: see dense_index), sparse/ (bm25s)

A build writes a complete new version folder beside the live one and then replaces ``CURRENT`` with
``os.replace``; a build that fails or is killed leaves the previous version live and loadable. Every process that
has a version loaded holds a shared ``flock`` on its folder, and a build removes an old version only when it can
take that lock exclusively, so a server that still answers from a version never has it deleted under it. Vectors are keyed by
a hash of the passage text, so a rebuild embeds only passages it has not seen with that model, and a build whose
corpus hash, model and settings equal the live manifest embeds nothing at all.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .. import __version__
from ..corpus.merge import merge_records
from .dense_index import IVF_THRESHOLD, build_dense_index, load_dense_index, save_dense_index
from .embed_cache import EmbedCache
from ..encoders import Encoder, encode_in_batches, token_budget_of
from ..errors import AssistantError, IndexMismatchError, IndexMissingError
from .passages import MAX_WORDS, split_records
from .sparse import ANALYSER, SparseIndex, sparse_texts
from ..types import Passage, Record

FORMAT_NAME = "checkpoint-qa-index"
FORMAT_VERSION = 2
SHARDED_FORMAT_VERSION = 3  # kb.sharded_build writes it; this loader reads both
READABLE = (FORMAT_VERSION, SHARDED_FORMAT_VERSION)
LAYOUTS = ("single", "sharded")
CURRENT = "CURRENT"


def _build_hint(index_dir: Path, model: str | None = None) -> str:
    extra = f" --model {model}" if model else ""
    return f"checkpoint-qa build --index {index_dir}{extra}"


def _repair_hint(index_dir: Path) -> str:
    """What to do about a damaged live version: switch to the newest intact one, never rebuild over the user's
    knowledge base from the shipped corpus (which would drop everything ingested)."""
    return (f"run `checkpoint-qa repair --index {index_dir}` to switch to the newest intact version (nothing is "
            "deleted)")


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
    if p.section:
        row["section"] = p.section
    if p.page is not None:
        row["page"] = p.page
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

    def __init__(self, path: Path, manifest: dict, records: Sequence[Record], passages: Sequence[Passage],
                 vectors: np.ndarray, index=None, passage_record: np.ndarray | None = None):
        self.path = path
        self._lease = _Lease(path)
        self.manifest = manifest
        self.records = records  # lists, or a sharded version's lazy rows (kb.shards)
        self.passages = passages
        self.vectors = vectors
        self._index = index
        self._sparse = None
        self._by_id: dict[str, Record] | None = None
        self._aliases: dict[str, Record] | None = None
        if passage_record is None:
            rows = {r.id: i for i, r in enumerate(records)}
            passage_record = np.array([rows[p.record_id] for p in passages], dtype=np.int64)
        self.passage_record = passage_record
        if self.sharded:
            from .filter_columns import FilterColumns
            self.filter_columns = FilterColumns.load(path / "filters")

    def trim(self) -> None:
        """Unmap the pages of a sharded version's files that this process has read (``kb.shards.Shard.trim``);
        a no-op for a single-file version, which is read into memory."""
        for shard in getattr(self.records, "shards", ()):
            shard.trim()

    @property
    def dead_passages(self) -> np.ndarray | None:
        """Which passage rows belong to papers an update replaced or deleted (``None``: none do)."""
        return getattr(self.passages, "dead", None)

    @property
    def sharded(self) -> bool:
        return self.manifest.get("format_version") == SHARDED_FORMAT_VERSION

    @property
    def by_id(self):
        """Records by id (a sharded version looks ids up in its shards instead of holding every record)."""
        if self._by_id is None:
            self._by_id = _ShardedById(self.records) if self.sharded else {r.id: r for r in self.records}
        return self._by_id

    def passage_rows(self, record_row: int) -> np.ndarray:
        """Rows of a record's passages (they are stored contiguously, in record order)."""
        lo = int(np.searchsorted(self.passage_record, record_row, side="left"))
        hi = int(np.searchsorted(self.passage_record, record_row, side="right"))
        return np.arange(lo, hi)

    @property
    def model(self) -> str:
        return self.manifest["model"]

    @property
    def version(self) -> str:
        """The version folder's name (``CURRENT`` names the live one)."""
        return self.path.name

    @property
    def dimension(self) -> int:
        return int(self.manifest["dimension"])

    @property
    def index(self):
        if self._index is None:
            try:
                self._index = load_dense_index(self.path / "dense.faiss", self.manifest.get("dense_index"))
            except (RuntimeError, OSError, ValueError) as exc:
                raise IndexMismatchError(f"the dense index of {self.path} is damaged ({str(exc)[:120]}); "
                                         f"{_repair_hint(self.path.parent)}") from None
        return self._index

    @property
    def sparse(self):
        if self._sparse is None:
            try:
                cls = _sparse_class(self.manifest)
                self._sparse = cls.load(self.path / "sparse", self.passages) if self.sharded else \
                    cls.load(self.path / "sparse")
            except Exception as exc:  # noqa: BLE001  (bm25s raises whatever numpy/json raise on a damaged file)
                raise IndexMismatchError(f"the BM25 index of {self.path} is damaged ({type(exc).__name__}); "
                                         f"{_repair_hint(self.path.parent)}") from None
        return self._sparse

    def find(self, ident: str) -> Record | None:
        """A record by its id, a merged source's id, ``pmid:N`` or ``doi:D`` (ids stay stable across ingests, so
        a paper that gained a PMID keeps its old id and is found by both)."""
        if self.sharded:  # ids, PMIDs and DOIs from the shards' columns
            row = self.records.row_of(ident if not ident.startswith("doi:") else ident.lower())
            return None if row is None else self.records[row]
        if ident in self.by_id:
            return self.by_id[ident]
        if self._aliases is None:
            aliases: dict[str, Record] = {}
            for record in self.records:
                for alias in (*record.source_ids, f"pmid:{record.pmid}" if record.pmid else "",
                              f"doi:{record.doi.lower()}" if record.doi else ""):
                    aliases.setdefault(alias, record)
            self._aliases = aliases
        return self._aliases.get(ident) or self._aliases.get(ident.lower() if ident.startswith("doi:") else ident)

    def record(self, record_id: str) -> Record:
        found = self.find(record_id)
        if found is None:
            raise AssistantError(f"no record {record_id!r} in {self.path}; search to find record ids")
        return found

    @staticmethod
    def live_version(index_dir: Path) -> Path:
        index_dir = Path(index_dir)
        pointer = index_dir / CURRENT
        if not pointer.is_file():
            if versions(index_dir):
                raise IndexMissingError(f"knowledge base at {index_dir} has no {CURRENT} file; "
                                        f"{_repair_hint(index_dir)}")
            raise IndexMissingError(f"no knowledge base at {index_dir}; build it with: {_build_hint(index_dir)}")
        try:
            name = pointer.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise IndexMissingError(f"cannot read {pointer} ({exc}); {_repair_hint(index_dir)}") from None
        version = index_dir / name
        if not name or "/" in name or not (version / "manifest.json").is_file():
            raise IndexMissingError(
                f"knowledge base at {index_dir} is incomplete ({CURRENT} names {name[:80]!r}, which is missing); "
                f"{_repair_hint(index_dir)}")
        return version

    @classmethod
    def read_manifest(cls, index_dir: Path) -> dict:
        version = cls.live_version(index_dir)
        try:
            manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            raise IndexMismatchError(f"manifest of {index_dir} is unreadable; {_repair_hint(index_dir)}") from None
        if manifest.get("format") != FORMAT_NAME or manifest.get("format_version") not in READABLE:
            raise IndexMismatchError(
                f"knowledge base at {index_dir} has format {manifest.get('format')} v{manifest.get('format_version')}"
                f", this version reads {FORMAT_NAME} v{FORMAT_VERSION} and v{SHARDED_FORMAT_VERSION}; rebuild with: "
                f"{_build_hint(index_dir)}")
        return manifest

    @classmethod
    def load(cls, index_dir: Path) -> "KnowledgeBase":
        index_dir = Path(index_dir)
        manifest = cls.read_manifest(index_dir)
        version = cls.live_version(index_dir)
        problem, loaded = _open_version(version, manifest, check_vectors=False)
        if problem:
            raise IndexMismatchError(f"knowledge base at {index_dir} is damaged ({problem}); {_repair_hint(index_dir)}")
        return cls(version, manifest, *loaded)


def versions(index_dir: Path) -> list[Path]:
    """Version folders of ``index_dir``, newest first (their names start with the build time)."""
    try:
        return sorted((p for p in Path(index_dir).iterdir() if p.is_dir() and p.name.startswith("v-")),
                      key=lambda p: p.name, reverse=True)
    except OSError:
        return []


def _vector_problem(vectors: np.ndarray, rows: int, dimension: int) -> str | None:
    """Shape, finiteness and unit norms of stored vectors, checked in blocks (they may be memory-mapped)."""
    if vectors.shape != (rows, dimension):
        return f"vectors have shape {vectors.shape}, expected ({rows}, {dimension})"
    for start in range(0, rows, 65_536):
        block = np.asarray(vectors[start:start + 65_536], dtype=np.float32)
        if not np.isfinite(block).all():
            return "vectors hold NaN or infinite values"
        norms = np.linalg.norm(block, axis=1)
        if (norms < 0.5).any() or (norms > 1.5).any():
            return f"vector {start + int(np.argmax((norms < 0.5) | (norms > 1.5)))} is not a unit vector (zeroed?)"
    return None


def _open_version(version: Path, manifest: dict, check_vectors: bool = True) -> tuple[str | None, tuple]:
    """``(problem, (records, passages, vectors, index, passage_record))``: a version's files read and checked
    against its manifest. A sharded version's vectors are checked in full at build time and by ``repair``, not on
    every load (reading a million vectors would take longer than the rest of opening it)."""
    if manifest.get("format_version") == SHARDED_FORMAT_VERSION:
        return _open_sharded(version, manifest, check_vectors)
    try:
        records = [Record.from_dict(row) for row in _read_jsonl(version / "records.jsonl")]
        passages = [Passage(**row) for row in _read_jsonl(version / "passages.jsonl")]
        vectors = np.load(version / "vectors.npy", mmap_mode="r")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{type(exc).__name__} reading its files", ()
    if len(records) != manifest.get("records") or len(passages) != manifest.get("passages"):
        return "its records or passages do not match its manifest", ()
    problem = _vector_problem(vectors, len(passages), int(manifest.get("dimension", -1)))
    for name in ("dense.faiss", "sparse"):
        if not (version / name).exists():
            problem = problem or f"{name} is missing"
    return problem, (records, passages, vectors, None, None)


def _open_sharded(version: Path, manifest: dict, check_vectors: bool) -> tuple[str | None, tuple]:
    from .shards import ShardedPassages, ShardedRecords, ShardedVectors, open_shards
    try:
        shards = open_shards(version, [s["name"] for s in manifest["shards"]])
        passage_record = np.load(version / "passage_record.npy", mmap_mode="r")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{type(exc).__name__} reading its shards", ()
    dead = dead_passages = None
    if manifest.get("dead_records"):  # an update applied as a delta, not yet compacted
        try:
            dead = np.load(version / "dead_records.npy")
        except (OSError, ValueError) as exc:
            return f"{type(exc).__name__} reading its dead records", ()
        dead_passages = np.isin(passage_record, dead)
    records, passages = ShardedRecords(shards, dead), ShardedPassages(shards, dead_passages)
    vectors = ShardedVectors(shards, int(manifest.get("dimension", -1)))
    if len(records) != manifest.get("records") or len(passages) != manifest.get("passages") \
            or len(passage_record) != len(passages):
        return "its records or passages do not match its manifest", ()
    if any(len(part.shape) != 2 or part.shape[1] != vectors.shape[1] for part in vectors.parts) \
            or len(vectors) != len(passages):
        return f"vectors do not have {manifest.get('dimension')} dimensions for {len(passages)} passages", ()
    problem = _vector_problem(vectors, len(passages), vectors.shape[1]) if check_vectors else None
    for name in ("dense.faiss", "sparse", "filters"):
        if not (version / name).exists():
            problem = problem or f"{name} is missing"
    return problem, (records, passages, vectors, None, passage_record)


def _sparse_class(manifest: dict):
    if str(manifest.get("sparse", {}).get("method", "")).startswith("tantivy"):
        from .tantivy_sparse import TantivySparse
        return TantivySparse
    return SparseIndex


class _ShardedById:
    """``by_id`` of a sharded version: a lookup in its shards' id columns."""

    def __init__(self, records):
        self.records = records

    def get(self, ident, default=None):
        row = self.records.row_of(ident, aliases=False) if isinstance(ident, str) else None
        return default if row is None else self.records[row]

    def __contains__(self, ident) -> bool:
        return self.get(ident) is not None

    def __getitem__(self, ident):
        found = self.get(ident)
        if found is None:
            raise KeyError(ident)
        return found


def version_problem(version: Path) -> str | None:
    """Why a version folder cannot serve, or ``None`` when it is intact (manifest, files, vectors, both indexes)."""
    try:
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no readable manifest"
    if manifest.get("format") != FORMAT_NAME or manifest.get("format_version") not in READABLE:
        return f"format {manifest.get('format')} v{manifest.get('format_version')}"
    problem, _ = _open_version(version, manifest)
    if problem:
        return problem
    try:
        load_dense_index(version / "dense.faiss", manifest.get("dense_index"))
        _sparse_class(manifest).load(version / "sparse")
    except Exception as exc:  # noqa: BLE001  (any failure to open an index means the version cannot serve)
        return f"an index does not open ({type(exc).__name__})"
    return None


def repair(index_dir: Path) -> tuple[str, list[str]]:
    """Point ``CURRENT`` at the newest intact version when the live one is missing or damaged.

    Returns ``(what was done, problems of the versions passed over)``. Nothing is deleted: damaged versions stay
    for inspection until the next successful build sweeps them.
    """
    index_dir = Path(index_dir)
    pointer = index_dir / CURRENT
    live = pointer.read_text(encoding="utf-8", errors="replace").strip() if pointer.is_file() else ""
    if live and (index_dir / live).is_dir() and version_problem(index_dir / live) is None:
        return f"{index_dir}: the live version {live} is intact; nothing to repair", []
    skipped = []
    for version in versions(index_dir):
        problem = version_problem(version)
        if problem is None:
            _point_at(index_dir, version.name)
            return f"{index_dir}: switched to {version.name}" + (f" (was {live!r})" if live else ""), skipped
        skipped.append(f"{version.name}: {problem}")
    raise IndexMissingError(f"no intact version in {index_dir}" + (f" ({'; '.join(skipped[:3])})" if skipped else "")
                            + f"; rebuild it with: {_build_hint(index_dir)}")


def _point_at(index_dir: Path, version: str) -> None:
    """Replace ``CURRENT`` atomically (write beside, fsync, rename)."""
    pointer_tmp = index_dir / f".{CURRENT}.{os.getpid()}.tmp"
    pointer_tmp.write_text(version + "\n", encoding="utf-8")
    with pointer_tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(pointer_tmp, index_dir / CURRENT)


def describe(kb: KnowledgeBase) -> dict:
    """Plain facts about a loaded knowledge base, for ``checkpoint-qa info`` and the UI."""
    if kb.sharded:  # from the filter columns: a sharded version's records are not read for this
        columns = kb.filter_columns
        alive = np.ones(columns.size, bool) if columns.alive is None else np.asarray(columns.alive, bool)
        year = np.asarray(columns.year)
        known = year[(year >= 0) & alive]
        years = {"min": int(known.min()) if known.size else None, "max": int(known.max()) if known.size else None,
                 "unknown": int(alive.sum() - known.size)}
        types = {value: int(alive[columns.rows["types"].get(value)].sum()) for value in columns.rows["types"]}
        types = {value: count for value, count in types.items() if count}
        size = sum(f.stat().st_size for f in kb.path.rglob("*") if f.is_file())
    else:
        found = [r.year for r in kb.records if r.year]
        years = {"min": min(found, default=None), "max": max(found, default=None),
                 "unknown": len(kb.records) - len(found)}
        types = {}
        for record in kb.records:
            types[record.type] = types.get(record.type, 0) + 1
        size = sum(f.stat().st_size for f in kb.path.iterdir() if f.is_file())
    dead = kb.dead_passages
    if kb.sharded:
        from .shards import keeps_bm25_tokens
        bm25 = "tantivy, exact bm25s scores" if keeps_bm25_tokens(kb.manifest) else "tantivy's own scores"
    else:
        bm25 = "bm25s"
    return {
        "path": str(kb.path.parent),
        "records": len(kb.records) - len(getattr(kb.records, "dead", ())),
        "passages": len(kb.passages) - (int(dead.sum()) if dead is not None else 0),
        "types": dict(sorted(types.items(), key=lambda item: -item[1])),
        "years": years,
        "model": kb.model,
        "dimension": kb.dimension,
        "bytes": size,
        "built_at": kb.manifest.get("built_at"),
        "package_version": kb.manifest.get("package_version"),
        "format_version": kb.manifest.get("format_version"),
        "layout": kb.manifest.get("layout", "single"),
        "bm25": bm25,
    }


@contextmanager
def locked(index_dir: Path) -> Iterator[None]:
    """One writer at a time on ``index_dir`` (ingests, removals, the first-use build), across processes."""
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


def not_writable(index_dir: Path, exc: OSError) -> AssistantError:
    return AssistantError(f"cannot write to the knowledge base at {index_dir} ({exc.strerror or exc}); check the "
                          "folder's permissions and free space (the live version is unchanged)")


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


class _Lease:
    """A shared lock on a version folder, held while the ``KnowledgeBase`` that owns it lives."""

    def __init__(self, version: Path):
        try:
            self.fd = os.open(version, os.O_RDONLY)
        except OSError:
            self.fd = None
            return
        fcntl.flock(self.fd, fcntl.LOCK_SH)
        weakref.finalize(self, os.close, self.fd)


def _remove_if_unused(version: Path) -> None:
    try:
        fd = os.open(version, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        shutil.rmtree(version, ignore_errors=True)
    except BlockingIOError:
        pass  # a process still answers from it; a later build removes it
    finally:
        os.close(fd)


def _sweep(index_dir: Path, keep: str) -> None:
    """Remove versions other than ``keep`` that no process has loaded, and abandoned build folders of processes
    that no longer run."""
    for child in index_dir.iterdir():
        if child.name == keep or not child.is_dir():
            continue
        if child.name.startswith("v-"):
            _remove_if_unused(child)
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
          ivf_threshold: int = IVF_THRESHOLD, live: KnowledgeBase | None = None,
          embed: Callable[[list[str], Callable], np.ndarray] | None = None, layout: str | None = None,
          bm25_tokens: bool | None = None) -> BuildReport:
    """Merge, split, embed and write ``records`` as the new live version of ``index_dir``.

    ``live`` is the live version when the caller has already loaded it (ingestion does), so it is not read twice.
    ``embed(texts, spill)`` embeds the passage texts that need it elsewhere (a Ray cluster: ``kb.ray_build``)
    instead of with ``encoder`` in this process, calling ``spill(rows, vectors)`` as batches arrive; ``encoder``
    still names the model and splits the passages. Spilled vectors (``embed_cache``) let a killed build resume.

    ``layout`` is ``single`` (this format) or ``sharded`` (format 3, ``kb.sharded_build``: memory-mapped shards for
    knowledge bases of millions of passages); ``None`` keeps the live version's layout. ``bm25_tokens`` is the
    sharded layout's choice to keep BM25 tokens for exact re-scoring (``kb.sharded_build``); ``None`` keeps the
    live version's.
    """
    say = on_stage or (lambda message: None)
    index_dir = Path(index_dir)
    if layout is None:
        try:
            current = live.manifest if live is not None else KnowledgeBase.read_manifest(index_dir)
            layout = current.get("layout", "single")
        except AssistantError:
            layout = "single"
    if layout not in LAYOUTS:
        raise AssistantError(f"unknown layout {layout!r}; use one of: {', '.join(LAYOUTS)}")
    if layout == "sharded":
        from .sharded_build import build_sharded
        return build_sharded(records, index_dir, encoder, max_words=max_words, progress=progress,
                             on_stage=on_stage, ivf_threshold=ivf_threshold, embed=embed, bm25_tokens=bm25_tokens)
    if bm25_tokens is False:
        raise AssistantError("only a sharded knowledge base can leave out its BM25 tokens (a single-file one scores "
                             "from its own BM25 matrix); add --layout sharded, or drop --no-bm25-tokens")
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
    cache = EmbedCache(index_dir, encoder.name, precision, dimension)  # what a killed build already embedded
    previous = {**cache.load(), **_previous_vectors(index_dir, encoder.name, dimension, precision, live)}
    keys = [passage_key(p) for p in passages]
    missing = [i for i, key in enumerate(keys) if key not in previous]
    runtime = ", ".join(str(v) for v in (getattr(encoder, "backend", None), getattr(encoder, "precision", None)) if v)
    say(f"embedding {len(missing)} of {len(passages)} passages with {encoder.name}" + (f" ({runtime})" if runtime
                                                                                       else "")
        + f", indexing {len(passages)} for BM25")
    # BM25 indexing takes ~2% of a build; run beside the encoder it fills the moments a core waits for work
    with ThreadPoolExecutor(1, thread_name_prefix="bm25") as pool:
        sparse_job = pool.submit(SparseIndex.build, sparse_texts(papers, passages))
        texts = [passages[i].text for i in missing]

        def spill(rows, batch: np.ndarray) -> None:
            cache.spill([keys[missing[r]] for r in rows], batch)

        fresh = embed(texts, spill) if embed is not None else _embed_spilling(encoder, texts, spill, progress)
        sparse = sparse_job.result()
    if fresh.shape[1:] != (dimension,):
        raise AssistantError(f"model {encoder.name} returned vectors of shape {fresh.shape[1:]}, expected "
                             f"({dimension},)")
    vectors = np.zeros((len(passages), dimension), dtype=np.float32)
    fresh_rows = dict(zip(missing, range(len(missing))))
    for i, key in enumerate(keys):
        vectors[i] = fresh[fresh_rows[i]] if i in fresh_rows else previous[key]

    with staging_folder(index_dir) as staging:
        _write_jsonl(staging / "records.jsonl", (r.to_dict() for r in papers))
        _write_jsonl(staging / "passages.jsonl", (_passage_row(p) for p in passages))
        np.save(staging / "vectors.npy", vectors)
        index, dense_info = build_dense_index(vectors, ivf_threshold)
        save_dense_index(index, staging / "dense.faiss")
        sparse.save(staging / "sparse")
        manifest = {
            **manifest_head(encoder, FORMAT_VERSION),
            "dense_index": dense_info.to_dict(),
            "sparse": {"method": "bm25s (lucene)", "analyser": ANALYSER},
            "records": len(papers),
            "passages": len(passages),
            "passage_max_words": max_words,
            "passage_max_tokens": budget.limit if budget else None,
            "corpus_hash": digest,
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        version = publish(index_dir, staging, manifest)
    _sweep(index_dir, keep=version)
    cache.clear()
    return BuildReport(index_dir, len(papers), len(passages), len(missing), len(passages) - len(missing), False,
                       encoder.name)


def manifest_head(encoder: Encoder, format_version: int) -> dict:
    """What every version's manifest says first: the format, the package, and the encoder its vectors came from."""
    return {"format": FORMAT_NAME, "format_version": format_version, "package_version": __version__,
            "model": encoder.name, "dimension": encoder.dimension, "precision": getattr(encoder, "precision", "fp32"),
            "encoder_backend": getattr(encoder, "backend", "other"), "metric": "inner_product on unit vectors (cosine)"}


@contextmanager
def staging_folder(index_dir: Path) -> Iterator[Path]:
    """A new version is written here, beside the live one; whatever goes wrong, the folder is removed and the live
    version is untouched (a file system error becomes the one "cannot write" message)."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        folder = index_dir / f".building-{os.getpid()}-{time.time_ns()}"
        folder.mkdir()
    except OSError as exc:
        raise not_writable(index_dir, exc) from None
    try:
        yield folder
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise not_writable(index_dir, exc) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def publish(index_dir: Path, folder: Path, manifest: dict) -> str:
    """Write ``manifest`` into the staged ``folder``, move it into place as a version named by the build time and
    the corpus hash, and point ``CURRENT`` at it; return the version's name."""
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    version = f"v-{datetime.now(timezone.utc):%Y%m%dT%H%M%S.%f}-{manifest['corpus_hash'][:8]}-{os.getpid()}"
    os.rename(folder, index_dir / version)
    try:
        _point_at(index_dir, version)
    except OSError as exc:
        shutil.rmtree(index_dir / version, ignore_errors=True)
        raise not_writable(index_dir, exc) from None
    return version


SPILL_EVERY = 16_384  # passages embedded between two spills to the build's cache


def _embed_spilling(encoder: Encoder, texts: list[str], spill, progress: bool) -> np.ndarray:
    """``encode_in_batches`` in slices of ``SPILL_EVERY`` texts, each spilled to the build's cache when done."""
    if len(texts) <= SPILL_EVERY:
        return encode_in_batches(encoder, texts, progress=progress)  # small builds: nothing worth resuming
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(texts), desc="embedding", unit="text", leave=False)
    parts = []
    try:
        for start in range(0, len(texts), SPILL_EVERY):
            part = encode_in_batches(encoder, texts[start:start + SPILL_EVERY])
            spill(range(start, start + len(part)), part)
            parts.append(part)
            if bar is not None:
                bar.update(len(part))
    finally:
        if bar is not None:
            bar.close()
    return np.vstack(parts)
