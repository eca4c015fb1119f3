"""The hashing encoder (``model="hash:DIM"``): a deterministic bag of content words and their bigrams with no
model and no dependencies, the same vector on every machine; the tests' encoder, and a fast way to try the
pipeline."""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from ..errors import ModelError
from ..text import STOPWORDS, words
from .base import unit_rows


class HashingEncoder:
    """Deterministic hashed bag of content words and their bigrams; no model, no randomness, the same vector on
    every machine."""

    backend = "hash"

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
        return unit_rows(out)
