"""The encoder contract (``encode_batch(texts) -> float32 array of unit rows``) and what every backend shares:
unit rows, the CPU's features and the precision they allow, token budgets, and encoding many texts in batches.

This module imports no backend: backends import it, and the factory (``encoders/__init__``) imports them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from ..config import PRECISIONS
from ..errors import ModelError
from .token_budget import TokenBudget


class Encoder(Protocol):
    name: str

    @property
    def dimension(self) -> int: ...

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray: ...


def token_budget_of(encoder: Encoder) -> TokenBudget | None:
    """The encoder's ``token_budget()`` where it has one (a transformer's token limit, see ``token_budget``)."""
    method = getattr(encoder, "token_budget", None)
    return method() if method is not None else None


def unit_rows(vectors) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as contiguous float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


@lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags, read once per process."""
    try:
        return frozenset(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="ignore").split())
    except OSError:
        return frozenset()


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX); elsewhere bf16 is emulated and slow."""
    return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


def cpu_has_int8_dot() -> bool:
    """Whether this CPU has int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX)."""
    return bool(_cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})


def resolve_precision(precision: str) -> str:
    """The floating-point precision ``precision`` runs in: ``auto`` is bf16 where the CPU computes it natively,
    else fp32. (Documents built by OpenVINO go further, see ``get_encoder``.)"""
    if precision not in PRECISIONS:
        raise ModelError(f"precision must be auto, fp32, bf16 or int8, got {precision!r}")
    if precision == "auto":
        return "bf16" if cpu_has_bf16() else "fp32"
    return precision


def encode_in_batches(encoder: Encoder, texts: Sequence[str], batch_size: int = 256, progress: bool = False) \
        -> np.ndarray:
    """Encode many texts with an optional progress bar; returns an ``(n, dim)`` float32 array. An encoder with
    ``encode_all(texts, advance)`` gets all the texts in one call (it streams them, see ``encoders.openvino``);
    any other gets them ``batch_size`` at a time, longest first."""
    if not texts:
        return np.zeros((0, encoder.dimension), dtype=np.float32)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(texts), desc="embedding", unit="text", leave=False)
    try:
        encode_all = getattr(encoder, "encode_all", None)
        if encode_all is not None:
            return encode_all(texts, bar.update if bar else None)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths share a batch
        parts = []
        for i in range(0, len(texts), batch_size):
            parts.append(encoder.encode_batch([texts[j] for j in order[i:i + batch_size]]))
            if bar:
                bar.update(len(parts[-1]))
        vectors = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        vectors[order] = np.vstack(parts)
        return vectors
    finally:
        if bar:
            bar.close()
