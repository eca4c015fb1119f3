"""Format 3 storage: a knowledge base as shards that are memory-mapped, with objects made only for what is read.

Each shard folder holds ``records.arrow`` (id, PMID, DOI and the record as JSON), ``passages.arrow`` (one column per
``Passage`` field, the record as a row number inside the shard, and the passage key), ``tokens.bin`` with
``tokens.offsets.npy`` (the tokens BM25 indexed and their count, from which the sparse side re-scores its
candidates; shards built with ``bm25_tokens=False`` have none, and tantivy's scores rank) and ``vectors.f16.npy``
(the float16 re-rank store: float16 kept the same top-10 as float32 for 200 of 200 test queries, issue 20). The
tables are Arrow IPC, which ``pyarrow.memory_map`` opens without reading: a million-passage knowledge base opens in
milliseconds, and a ``Record`` or ``Passage`` object exists only for a row someone asks for. Shard files say
nothing about their place in the knowledge base (record rows are local), so a shard whose content did not change
is hard-linked into the next version unchanged.

``ShardedRecords``, ``ShardedPassages`` and ``ShardedVectors`` give a version's shards the interface of the lists
and the array a single-file version loads (``store.KnowledgeBase``), with global row numbers.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import weakref
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..types import Passage, Record

SHARD_FORMAT = 3  # what a shard's files hold (3: BM25 tokens too); a build rewrites shards of another, never links
RECORDS, PASSAGES, VECTORS = "records.arrow", "passages.arrow", "vectors.f16.npy"
TOKENS, TOKEN_OFFSETS = "tokens.bin", "tokens.offsets.npy"
FILES = (RECORDS, PASSAGES, VECTORS, TOKENS, TOKEN_OFFSETS)
OPTIONAL_FILES = (TOKENS, TOKEN_OFFSETS)
PASSAGE_FIELDS = ("ordinal", "title", "body", "start", "end", "subjects", "section", "page")


def _pa():
    try:
        import pyarrow as pa
        import pyarrow.ipc  # noqa: F401
    except ImportError:
        from ..errors import AssistantError
        raise AssistantError("sharded knowledge bases need pyarrow: pip install 'checkpoint-qa[scale]'") from None
    return pa


def keeps_bm25_tokens(manifest: dict) -> bool:
    """Whether a sharded version's shards keep their BM25 tokens (every version from before the choice does)."""
    return bool(manifest.get("sparse", {}).get("tokens", True))


def record_digest(record: Record) -> str:
    """What a record says, hashed: an update compares it to find the papers that changed."""
    return hashlib.sha1(json.dumps(record.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def _write_table(path: Path, table) -> None:
    pa = _pa()
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=max(1, table.num_rows))  # one chunk: row i is chunk 0, row i


def write_shard(folder: Path, records: Sequence[Record], passages: Sequence[Passage], keys: Sequence[str],
                vectors: np.ndarray, sparse_tokens: Sequence[str] | None) -> None:
    """Write one shard; ``passages`` belong to ``records`` and come in record order; ``sparse_tokens`` are each
    passage's analysed tokens joined by spaces, as the BM25 side indexed them, or ``None`` to keep none."""
    pa = _pa()
    folder.mkdir(parents=True)
    row_of = {r.id: i for i, r in enumerate(records)}
    _write_table(folder / RECORDS, pa.table({
        "id": pa.array([r.id for r in records], pa.string()),
        "pmid": pa.array([r.pmid for r in records], pa.string()),
        "doi": pa.array([(r.doi or "").lower() or None for r in records], pa.string()),
        "json": pa.array([json.dumps(r.to_dict(), ensure_ascii=False) for r in records], pa.large_string()),
        "digest": pa.array([record_digest(r) for r in records], pa.string()),
    }))
    _write_table(folder / PASSAGES, pa.table({
        "record": pa.array([row_of[p.record_id] for p in passages], pa.int32()),
        "ordinal": pa.array([p.ordinal for p in passages], pa.int32()),
        "title": pa.array([p.title for p in passages], pa.large_string()),
        "body": pa.array([p.body for p in passages], pa.large_string()),
        "start": pa.array([p.start for p in passages], pa.int64()),
        "end": pa.array([p.end for p in passages], pa.int64()),
        "subjects": pa.array([p.subjects for p in passages], pa.large_string()),
        "section": pa.array([p.section for p in passages], pa.string()),
        "page": pa.array([p.page for p in passages], pa.int32()),
        "key": pa.array(list(keys), pa.string()),
    }))
    if sparse_tokens is not None:
        pieces = [wrapped(t).encode("utf-8") for t in sparse_tokens]
        sizes = np.fromiter(map(len, pieces), np.int64, len(pieces))
        counts = np.fromiter(map(token_count, sparse_tokens), np.int64, len(pieces))
        (folder / TOKENS).write_bytes(b"".join(pieces))
        ends = np.cumsum(sizes)  # each passage's row: start, end, token count
        np.save(folder / TOKEN_OFFSETS, np.column_stack([ends - sizes, ends, counts]).reshape(-1, 3))
    np.save(folder / VECTORS, np.asarray(vectors, dtype=np.float16))


def wrapped(joined: str) -> str:
    """Tokens as a shard keeps them, each between its own two spaces (`` a  b ``): ``" a "`` then occurs once per
    occurrence of ``a``, repeats included, so a term's count is a byte count."""
    return f" {joined.replace(' ', '  ')} " if joined else ""


def token_count(joined: str) -> int:
    """A passage's length for BM25, as bm25s counts it (a passage without tokens is indexed as one empty token)."""
    return max(1, joined.count(" ") + 1) if joined else 1


def _random_access(array: np.ndarray) -> np.ndarray:
    """Tell the kernel a memory map is read at random (a re-rank reads 256 scattered rows): without it each row
    read pulls in the pages around it too, and a server's resident memory grows by the read-ahead, not the rows."""
    handle = getattr(array, "_mmap", None)
    if handle is not None and hasattr(mmap, "MADV_RANDOM"):
        handle.madvise(mmap.MADV_RANDOM)
    return array


def _open_table(path: Path):
    """An Arrow file's table over our own read-only memory map (``trim`` needs the map's handle)."""
    pa = _pa()
    with path.open("rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    return pa.ipc.open_file(pa.py_buffer(mapped)).read_all(), mapped


class Shard:
    """One shard, memory-mapped."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.records, records_map = _open_table(folder / RECORDS)
        self.passages, passages_map = _open_table(folder / PASSAGES)
        self.vectors = _random_access(np.load(folder / VECTORS, mmap_mode="r"))
        self._maps = [records_map, passages_map, getattr(self.vectors, "_mmap", None)]
        self._record_json = self.records.column("json").chunk(0) if self.records.num_rows else None
        self._record_ids = self.records.column("id").chunk(0) if self.records.num_rows else None
        self._passage_columns = ({name: self.passages.column(name).chunk(0) for name in (*PASSAGE_FIELDS, "record")}
                                 if self.passages.num_rows else {})
        self._token_offsets = None
        self._token_fd: int | None = None

    def trim(self) -> None:
        """Unmap the pages this process has touched. They stay in the page cache, shared by every process, and
        come back on the next read; without this, a long-running server's resident size grows towards the size
        of every file it has read from (on kernels with large page-cache folios one read maps up to 2 MB)."""
        for mapped in self._maps:
            if mapped is not None and hasattr(mmap, "MADV_DONTNEED"):
                mapped.madvise(mmap.MADV_DONTNEED)

    def record(self, row: int) -> Record:
        return Record.from_dict(json.loads(self._record_json[row].as_py()))

    def record_id(self, row: int) -> str:
        return self._record_ids[row].as_py()

    def passage(self, row: int) -> Passage:
        columns = self._passage_columns
        return Passage(record_id=self.record_id(columns["record"][row].as_py()),
                       **{name: columns[name][row].as_py() for name in PASSAGE_FIELDS})

    def all_records(self) -> list[Record]:
        return [Record.from_dict(json.loads(text)) for text in self.records.column("json").to_pylist()]

    def passage_keys(self) -> list[str]:
        return self.passages.column("key").to_pylist()

    @property
    def has_tokens(self) -> bool:
        return (self.folder / TOKENS).is_file() and (self.folder / TOKEN_OFFSETS).is_file()

    def _token_index(self) -> np.ndarray:
        """Per passage: where its tokens start and end in ``tokens.bin``, and how many there are."""
        if self._token_offsets is None:
            self._token_offsets = np.load(self.folder / TOKEN_OFFSETS, mmap_mode="r")
        return self._token_offsets

    def sparse_tokens(self, rows: np.ndarray) -> tuple[list[bytes], np.ndarray]:
        """The ``wrapped`` tokens of passages by row in the shard, and their token counts. Read with ``pread``,
        not mapped: a search reads a few hundred scattered passages, and faulting their pages in after each
        ``trim`` cost more than the re-scoring itself (5 ms a search at a million passages). The offsets (24 bytes
        a passage) stay mapped."""
        where = np.asarray(self._token_index()[rows])
        if self._token_fd is None:  # kept open for the shard's life: a search reads from a few dozen shards
            self._token_fd = os.open(self.folder / TOKENS, os.O_RDONLY)
            weakref.finalize(self, os.close, self._token_fd)
        fd = self._token_fd
        return [os.pread(fd, end - start, start) for start, end in where[:, :2].tolist()], where[:, 2]

    def token_counts(self) -> np.ndarray:
        return np.asarray(self._token_index()[:, 2])


class _ShardedRows(Sequence):
    """Global rows over shards: ``offsets[i]`` is the first global row of shard ``i``."""

    def __init__(self, shards: list[Shard], counts: Sequence[int]):
        self.shards = shards
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, row: int) -> tuple[Shard, int]:
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(row)
        i = int(np.searchsorted(self.offsets, row, side="right")) - 1
        return self.shards[i], row - int(self.offsets[i])

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        return self._make(*self.locate(int(row)))

    def _make(self, shard: Shard, row: int):
        raise NotImplementedError


class ShardedRecords(_ShardedRows):
    """Records by global row. Rows of ``dead`` records (replaced or deleted by an update not yet compacted) keep
    their place, so rows stay valid, but iteration and lookups pass over them."""

    def __init__(self, shards: list[Shard], dead: np.ndarray | None = None):
        super().__init__(shards, [s.records.num_rows for s in shards])
        self.dead = frozenset(np.asarray(dead).tolist()) if dead is not None and len(dead) else frozenset()
        self._rows: dict[str, int] | None = None

    def _make(self, shard: Shard, row: int) -> Record:
        return shard.record(row)

    def __iter__(self) -> Iterator[Record]:
        for shard, first in zip(self.shards, self.offsets):
            for i, record in enumerate(shard.all_records()):
                if int(first) + i not in self.dead:
                    yield record

    def live_rows(self) -> Iterator[tuple[int, str, str]]:
        """``(row, id, digest)`` of every live record."""
        for shard, first in zip(self.shards, self.offsets):
            ids, digests = shard.records.column("id").to_pylist(), shard.records.column("digest").to_pylist()
            for i, (ident, digest) in enumerate(zip(ids, digests)):
                if int(first) + i not in self.dead:
                    yield int(first) + i, ident, digest

    def row_of(self, ident: str, aliases: bool = True) -> int | None:
        """The global row of a record id, or (``aliases``) of a ``pmid:N`` or ``doi:D`` when no id is that; lookups
        built on first use from the shards' id, PMID and DOI columns."""
        if self._rows is None:
            ids: dict[str, int] = {}
            others: dict[str, int] = {}
            for shard, first in zip(self.shards, self.offsets):
                for name, prefix, into in (("id", "", ids), ("pmid", "pmid:", others), ("doi", "doi:", others)):
                    for i, value in enumerate(shard.records.column(name).to_pylist()):
                        if value and int(first) + i not in self.dead:
                            into.setdefault(prefix + value, int(first) + i)
            self._rows = (ids, others)
        ids, others = self._rows
        row = ids.get(ident)
        return row if row is not None or not aliases else others.get(ident)


class ShardedPassages(_ShardedRows):
    """Passages by global row; iteration passes over those of dead records (``dead``: a mask over the rows)."""

    def __init__(self, shards: list[Shard], dead: np.ndarray | None = None):
        super().__init__(shards, [s.passages.num_rows for s in shards])
        self.dead = dead

    def _make(self, shard: Shard, row: int) -> Passage:
        return shard.passage(row)

    def __iter__(self) -> Iterator[Passage]:
        for shard, first in zip(self.shards, self.offsets):
            for row in range(shard.passages.num_rows):
                if self.dead is None or not self.dead[int(first) + row]:
                    yield shard.passage(row)

    def keys(self) -> Iterator[str]:
        for shard in self.shards:
            yield from shard.passage_keys()

    @property
    def has_tokens(self) -> bool:
        """Whether every shard keeps its passages' BM25 tokens (shards written before they did do not)."""
        return all(shard.has_tokens for shard in self.shards)

    def sparse_tokens(self, rows: np.ndarray) -> tuple[list[bytes], np.ndarray]:
        """The BM25 tokens of passages by global row, in the order of ``rows``: each passage's tokens as ``wrapped``
        keeps them, and its token count."""
        rows = np.asarray(rows, np.int64)
        pieces: list[bytes] = [b""] * len(rows)
        lengths = np.ones(len(rows), np.int64)
        which = np.searchsorted(self.offsets, rows, side="right") - 1
        for shard in np.unique(which):
            at = np.flatnonzero(which == shard)
            found, lengths[at] = self.shards[shard].sparse_tokens(rows[at] - self.offsets[shard])
            for i, piece in zip(at.tolist(), found):
                pieces[i] = piece
        return pieces, lengths

    def mean_token_count(self) -> float:
        """BM25's average passage length over the live passages (what a full rebuild would index)."""
        total = live = 0
        for shard, first in zip(self.shards, self.offsets):
            counts = shard.token_counts()
            if self.dead is not None:
                counts = counts[~self.dead[int(first):int(first) + len(counts)]]
            total += int(counts.sum(dtype=np.int64))
            live += len(counts)
        return total / live if live else 1.0


class ShardedVectors:
    """The shards' float16 vectors as one read-only array of float32 rows (``vectors[rows]``, ``vectors[a:b]``)."""

    dtype = np.dtype(np.float32)

    def __init__(self, shards: list[Shard], dimension: int):
        self.parts = [s.vectors.view(np.ndarray) for s in shards]  # plain views: np.memmap's indexing is slower
        self.offsets = np.concatenate([[0], np.cumsum([len(p) for p in self.parts])]).astype(np.int64)
        self.shape = (int(self.offsets[-1]), dimension)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self[np.array([int(index)])][0]
        rows = np.arange(*index.indices(len(self))) if isinstance(index, slice) else np.asarray(index, np.int64)
        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        if not len(rows):
            return out
        which = np.searchsorted(self.offsets, rows, side="right") - 1
        for shard in np.unique(which):
            at = np.flatnonzero(which == shard)
            local = rows[at] - self.offsets[shard]
            if len(local) > 1 and local[-1] - local[0] == len(local) - 1 and (np.diff(local) == 1).all():
                out[at] = self.parts[shard][local[0]:local[-1] + 1]  # a run: one slice of the memory map
            else:
                out[at] = np.take(self.parts[shard], local, axis=0)
        return out

    def __array__(self, dtype=None, copy=None):
        return self[0:len(self)] if dtype is None else self[0:len(self)].astype(dtype)

    def blocks(self, size: int = 65_536) -> Iterator[tuple[int, np.ndarray]]:
        """``(first_row, float32 block)`` over all rows, a shard part at a time."""
        for part, first in zip(self.parts, self.offsets):
            for start in range(0, len(part), size):
                yield int(first) + start, np.asarray(part[start:start + size], dtype=np.float32)


def open_shards(version: Path, names: Sequence[str]) -> list[Shard]:
    return [Shard(version / "shards" / name) for name in names]
