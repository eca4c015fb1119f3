"""Open an input file as a stream of bytes: gzip unpacked on the fly, every byte counted against the format's limit.

PubMed distributes its baseline and update files gzipped, and users keep exports compressed, so any supported
format may come as ``.gz``; it is read through ``gzip`` as a stream and never unpacked to disk. The size limit of
``limits.MAX_FILE_BYTES`` is enforced on the bytes actually read (for ``.gz``, the bytes coming out of the
decompressor), so neither a file that grows while read nor a small archive that unpacks to gigabytes gets past it.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

from ..errors import CorpusError
from ..limits import MAX_FILE_BYTES

GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: Path) -> bool:
    with Path(path).open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def inner_name(path: Path) -> Path:
    """``pubmed25n0001.xml.gz`` -> ``pubmed25n0001.xml``: the name that says the format inside."""
    path = Path(path)
    return path.with_suffix("") if path.suffix.lower() == ".gz" else path


class _Counted(io.RawIOBase):
    """A read-only stream that stops with ``CorpusError`` once more than ``limit`` bytes have come through."""

    def __init__(self, raw, name: str, limit: int):
        self.raw, self.name, self.limit, self.count = raw, name, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self.raw.read(len(buffer))
        except (OSError, EOFError, zlib.error) as exc:  # gzip reports a damaged archive as OSError/EOFError
            raise CorpusError(f"{self.name}: cannot be read ({exc}); download the file again") from None
        self.count += len(data)
        if self.count > self.limit:
            raise CorpusError(f"{self.name}: larger than the {self.limit / (1 << 20):,.0f} MiB this format may "
                              "hold once unpacked; split it into smaller files")
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


def open_bytes(path: Path, fmt: str | None = None, limit: int | None = None) -> io.BufferedReader:
    """A buffered byte stream of ``path``'s content (unpacked when gzipped), limited to the format's bytes."""
    path = Path(path)
    try:
        raw = gzip.open(path, "rb") if is_gzip(path) else path.open("rb")
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from None
    cap = limit if limit is not None else MAX_FILE_BYTES.get(fmt or "", max(MAX_FILE_BYTES.values()))
    return io.BufferedReader(_Counted(raw, path.name, cap), buffer_size=1 << 20)


def open_text(path: Path, fmt: str | None = None, newline: str | None = None) -> io.TextIOWrapper:
    """``open_bytes`` decoded as UTF-8 (a byte-order mark is dropped)."""
    return io.TextIOWrapper(open_bytes(path, fmt), encoding="utf-8-sig", newline=newline)


def head(path: Path, size: int = 4096) -> bytes:
    """The first ``size`` bytes of the content, for sniffing the format."""
    with open_bytes(path) as handle:
        return handle.read(size)
