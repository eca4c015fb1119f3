"""Fast encoders: the exported model compiled by OpenVINO, for building knowledge bases and for queries.

Design: building is batch throughput, and on a CPU nearly all of it is the transformer's matrix products. OpenVINO
runs the model's ONNX export (see ``encoders.onnx``) with fused kernels, in bf16 about 2.9x torch fp32 on the
2-core development machine (``benchmarks/encoder_speed.py``), with vectors at cosine > 0.9999 to torch fp32, and
with int8 weights (``quantize``; the default for documents where the CPU has int8 dot products) about 3.7x.
Texts are sorted by length and cut into batches of at most ``tokens_per_batch`` padded tokens, so little is
padding and a batch's activations stay in the cores' caches; the batches run on OpenVINO's throughput streams (one
per core), each core working through its own batch, which measured 11% faster than one batch at a time spread over
both cores. A build's texts go in as one stream (``encode_all``): the next slice is tokenised while the cores run
the batches already queued, and the queue drains once, at the end. Installed with the ``fast`` extra; where it is
missing or the model cannot be exported, ``encoders.get_encoder`` falls back to torch.

The same class encodes queries with ``latency=True``: one request at a time on all cores, in bf16 where the CPU
has it (p50 3.3-4.1 ms for a SciFact claim against 4.5 ms in ONNX Runtime fp32, same script), and the compiled
model cached beside the export, so a search process compiles once per model (0.09 s to load against 0.36 s to
compile).

OpenVINO's Python package counts its own imports in ``~/intel`` and sends telemetry only from its model
conversion tools, which this module never calls (it reads the ONNX file directly); a test checks that encoding
opens no network connection.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import ModelError
from .base import cpu_has_bf16, unit_rows
from .onnx import ExportedEncoder, read_export, round_up, token_arrays, tokenize

RUNS_IN = ("fp32", "bf16", "int8")  # resolved precisions; "auto" is resolved by the caller
TOKENS_PER_BATCH = 2048  # padded tokens; 1,024-4,096 measured within 1% of each other, 64 texts a batch 6% slower
# Batch widths are rounded up to this many tokens: every new input shape costs a kernel compilation, and widths in
# steps of 8 cut a build's shapes about fourfold, for about 1.6% more padding (2.4% faster in a fresh process).
WIDTH_STEP = 8
# Texts tokenised at a time while earlier batches run; draining the queue between slices instead, as batches of
# 256 texts did, idled a core at each slice's end and cost 3.5% of throughput (1.2 s of a 2,000-abstract build).
SLICE_TEXTS = 256
# Set by a process that owns only part of the machine (a Ray embedding actor): document encoding then runs one
# stream on that many threads instead of a stream per core of the machine.
THREADS_ENV = "CHECKPOINT_QA_ENCODER_THREADS"


def openvino_available() -> bool:
    """Whether OpenVINO is installed (cheap: finds the package without importing it)."""
    from importlib.util import find_spec
    return find_spec("openvino") is not None


class OpenVinoEncoder(ExportedEncoder):
    """Encode with the exported model in OpenVINO at ``precision`` (``fp32``, ``bf16`` or ``int8``, already
    resolved); int8 runs the int8-weight model (``quantize``) with the rest in bf16 where the CPU has it. Built for
    batch throughput, or with ``latency=True`` for one query at a time."""

    backend = "openvino"

    def __init__(self, name: str, location: str, precision: str = "fp32", tokens_per_batch: int = TOKENS_PER_BATCH,
                 latency: bool = False):
        if precision not in RUNS_IN:
            raise ModelError(f"the OpenVINO encoder runs in {', '.join(RUNS_IN)}, not {precision!r}")
        super().__init__(name, location)
        self.precision = precision
        self.tokens_per_batch = tokens_per_batch
        self.latency = latency
        kind = "QUERY" if latency else "DOCUMENT"
        self.what = f"OpenVINO {kind.lower()} encoder"
        self.fallback = f"CHECKPOINT_QA_{kind}_ENCODER=torch"
        self._lock = threading.Lock()  # one queue of requests per encoder: callers take turns

    def _open(self, folder: Path):
        try:
            import openvino
        except ImportError:
            raise ModelError("the OpenVINO encoder needs openvino; run: pip install 'checkpoint-qa[fast]'") from None
        from .quantize import GROUP_SIZE, quantized_model
        meta, tokenizer = read_export(folder)
        # int8 runs what is not an int8 product (attention, norms) in bf16 where the CPU has it
        bf16 = self.precision == "bf16" or (self.precision == "int8" and cpu_has_bf16())
        config = {"PERFORMANCE_HINT": "LATENCY" if self.latency else "THROUGHPUT",
                  "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32"}
        graph = folder / "model.onnx"
        if self.precision == "int8":
            graph = quantized_model(folder)
            config["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = str(GROUP_SIZE)
        threads = os.environ.get(THREADS_ENV, "").strip()
        if threads.isdigit() and int(threads) > 0 and not self.latency:  # a Ray actor's share of the machine
            # no pinning: every such process would pin its threads to the same first cores
            config.update({"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": "1", "ENABLE_CPU_PINNING": "NO"})
        if self.latency:  # OpenVINO compiles again over a damaged cache file (tested)
            config["CACHE_DIR"] = str(folder / "openvino-cache")
        compiled = openvino.Core().compile_model(str(graph), "CPU", config)
        return openvino.AsyncInferQueue(compiled), tokenizer, meta

    @property
    def width_step(self) -> int:
        return 1 if self.latency else WIDTH_STEP  # a query is one text: no padding, and its shape comes back often

    def batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices by increasing length, cut where a batch would pass ``tokens_per_batch`` padded tokens (a text
        longer than that is a batch of its own)."""
        step = self.width_step
        batches: list[list[int]] = [[]]
        for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
            if batches[-1] and (len(batches[-1]) + 1) * round_up(lengths[i], step) > self.tokens_per_batch:
                batches.append([])
            batches[-1].append(i)
        return [b for b in batches if b]

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode_all(texts)

    def encode_all(self, texts: Sequence[str], advance: Callable[[int], object] | None = None) -> np.ndarray:
        """Encode ``texts`` in one stream of batches: texts are taken shortest first (by characters), tokenised
        ``SLICE_TEXTS`` at a time while the cores run the batches already queued, and the queue is drained once
        at the end. ``advance(n)`` is called as each slice of ``n`` texts is queued (for a progress bar)."""
        self.calls += 1
        self._load()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out

        def store(request, rows):
            out[rows] = request.get_output_tensor(0).data

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with self._lock:
            self._runner.set_callback(store)
            for start in range(0, len(order), SLICE_TEXTS):
                chosen = order[start:start + SLICE_TEXTS]
                encodings = tokenize(self._tokenizer, [texts[i] for i in chosen])
                for rows in self.batches([len(e.ids) for e in encodings]):
                    feed = token_arrays(self._meta["inputs"], [encodings[r] for r in rows], self.width_step)
                    self._runner.start_async(feed, [chosen[r] for r in rows])
                if advance:
                    advance(len(chosen))
            self._runner.wait_all()
        return unit_rows(out)
