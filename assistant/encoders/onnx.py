"""A fast query encoder: the same sentence-transformers model run by ONNX Runtime, without torch in the process.

Design: a query is one short text, so its cost is the fixed overhead of a framework call plus ~20 tokens of
work, and a process that only searches pays for importing torch and sentence-transformers (about 6 s here).
This encoder exports the model once (transformer, pooling and normalisation in one graph) into the user's cache,
keyed by the model's files, and afterwards needs only ``onnxruntime``, ``tokenizers`` and numpy. The export
itself needs torch and ``onnx`` and happens when ``checkpoint-qa build`` first encodes, or else on first use; the
OpenVINO document encoder (``encoders.openvino``) runs the same export.

Only plain models are exported: a Transformer followed by mean or CLS pooling and optionally Normalize; anything
else raises ``ModelError`` so the caller falls back to the torch encoder. Install with the ``fast`` extra.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import numpy as np

from ..errors import ModelError
from .base import unit_rows

EXPORT_VERSION = 2
T = TypeVar("T")
_MODULES_OK = {"Transformer", "Pooling", "Normalize"}


def onnx_available() -> bool:
    """Whether the runtime is installed (cheap: finds the package without importing it)."""
    from importlib.util import find_spec
    return find_spec("onnxruntime") is not None


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "checkpoint-qa" / "onnx"


def _fingerprint(location: str) -> str:
    """Key the export by the model's files (name, size, mtime), so a changed model is exported again."""
    digest = hashlib.sha256(f"v{EXPORT_VERSION}|{location}".encode())
    folder = Path(location)
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(f"|{path.relative_to(folder)}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:16]


def export_dir(location: str) -> Path:
    return cache_root() / _fingerprint(location)


def _pooling_mode(pooling) -> str:
    config = pooling.get_config_dict()
    mode = config.get("pooling_mode")
    if isinstance(mode, str):
        return mode
    if config.get("pooling_mode_mean_tokens"):
        return "mean"
    if config.get("pooling_mode_cls_token"):
        return "cls"
    return "unsupported"


def export(location: str, target: Path) -> Path:
    """Export the model at ``location`` to ``target`` (written beside, then renamed)."""
    try:
        import torch
        from sentence_transformers import SentenceTransformer
        import onnx  # noqa: F401  (torch's exporter needs it)
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise ModelError(f"exporting the model to ONNX needs torch and onnx ({exc}); "
                         f"run: pip install 'checkpoint-qa[fast]'") from None
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    # Eager attention exports as plain matrix products, which ONNX Runtime runs ~12% faster for a short query
    # than the exported scaled-dot-product path.
    model = SentenceTransformer(location, device="cpu", model_kwargs={"attn_implementation": "eager"})
    kinds = [type(module).__name__ for module in model]
    if not kinds or kinds[0] != "Transformer" or not set(kinds) <= _MODULES_OK:
        raise ModelError(f"the ONNX export supports Transformer + Pooling models, not {' + '.join(kinds)}")
    mode = _pooling_mode(model[1]) if len(kinds) > 1 else "mean"
    if mode not in ("mean", "cls"):
        raise ModelError(f"the ONNX export supports mean or CLS pooling, not {mode!r}")
    transformer, normalise = model[0], "Normalize" in kinds
    backbone = transformer.auto_model.float().eval()
    tokenizer = transformer.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError("the ONNX export needs a model with a fast (tokenizer.json) tokenizer")
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if "token_type_ids" in
                                               tokenizer.model_input_names else [])

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = backbone

        def forward(self, *inputs):
            states = self.backbone(**dict(zip(names, inputs))).last_hidden_state
            mask = inputs[1].unsqueeze(-1).to(states.dtype)
            if mode == "cls":
                pooled = states[:, 0]
            else:
                pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1) if normalise else pooled

    sample = tokenizer(["programmed cell death 1 blockade"], return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    axes["embedding"] = {0: "batch"}
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about the mask code; the export is checked in tests
            torch.onnx.export(Pooled(), tuple(sample[n] for n in names), str(staging / "model.onnx"),
                              input_names=names, output_names=["embedding"], dynamic_axes=axes, opset_version=17,
                              dynamo=False)
        tokenizer.backend_tokenizer.save(str(staging / "tokenizer.json"))
        meta = {"location": location, "inputs": names, "max_tokens": int(model.get_max_seq_length() or 512),
                "dimension": int(backbone.config.hidden_size), "pooling": mode, "normalise": normalise,
                "version": EXPORT_VERSION}
        (staging / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        try:
            staging.rename(target)
        except OSError:  # another process exported the same model first: keep theirs
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def read_export(folder: Path):
    """The export's metadata and its tokenizer, set to truncate where the model does and not to pad."""
    from tokenizers import Tokenizer
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=meta["max_tokens"])
    tokenizer.no_padding()
    return meta, tokenizer


def prepared(location: str, open_export: Callable[[Path], T], what: str, fallback: str) -> T:
    """``open_export(folder)`` on the model's export, exporting it first if needed and once more if it is damaged
    (disk full, a killed copy). Anything else that goes wrong is one ``ModelError`` naming ``fallback``."""
    folder = export_dir(location)
    try:
        if not (folder / "meta.json").is_file():
            export(location, folder)
        try:
            return open_export(folder)
        except Exception:
            shutil.rmtree(folder, ignore_errors=True)
            export(location, folder)
            return open_export(folder)
    except ModelError:
        raise
    except Exception as exc:  # unwritable cache, unreadable files, a runtime that rejects the graph
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot prepare the {what} in {folder} ({first}); set {fallback}, or make that folder "
                         f"writable") from None


def tokenize(tokenizer, texts: Sequence[str]) -> list:
    if len(texts) == 1:
        return [tokenizer.encode(texts[0])]
    # without character offsets, which nothing here reads: 20% less tokenising time, the same tokens
    batch = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    return batch(list(texts))


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def token_arrays(names: Sequence[str], encodings: Sequence, multiple: int = 1) -> dict[str, np.ndarray]:
    """Token ids, mask and (if the model takes them) type ids, padded to the longest encoding, rounded up to a
    ``multiple`` of tokens."""
    width = round_up(max(len(e.ids) for e in encodings), multiple)
    arrays = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in names}
    for row, enc in enumerate(encodings):
        n = len(enc.ids)
        arrays["input_ids"][row, :n] = enc.ids
        arrays["attention_mask"][row, :n] = enc.attention_mask
        if "token_type_ids" in arrays:
            arrays["token_type_ids"][row, :n] = enc.type_ids
    return arrays


class ExportedEncoder:
    """What the runtimes share: the export prepared on first use, its tokenizer and metadata; a subclass opens
    the graph in its runtime (``_open``) and runs it (``encode_batch``)."""

    backend = ""
    what = ""
    fallback = ""

    def __init__(self, name: str, location: str):
        self.name = name
        self.location = location
        self._runner = None
        self._tokenizer = None
        self._meta: dict | None = None
        self.calls = 0

    def _open(self, folder: Path):
        raise NotImplementedError

    def _load(self):
        if self._runner is None:
            self._runner, self._tokenizer, self._meta = prepared(self.location, self._open, self.what,
                                                                 self.fallback)

    @property
    def dimension(self) -> int:
        self._load()
        return int(self._meta["dimension"])

    def token_budget(self):
        from .token_budget import budget_from_tokenizer
        self._load()
        return budget_from_tokenizer(self._tokenizer, int(self._meta["max_tokens"]))


class OnnxEncoder(ExportedEncoder):
    """Encode with an exported model in ONNX Runtime; same name, dimension and (to ~1e-6) vectors as torch fp32."""

    backend = "onnx"
    precision = "fp32"
    what = "ONNX query encoder"
    fallback = "CHECKPOINT_QA_QUERY_ENCODER=torch"

    def _open(self, folder: Path):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelError("the ONNX query encoder needs onnxruntime; run: pip install 'checkpoint-qa[fast]'") \
                from None
        meta, tokenizer = read_export(folder)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
        return session, tokenizer, meta

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self._load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        feed = token_arrays(self._meta["inputs"], tokenize(self._tokenizer, texts))
        (vectors,) = self._runner.run(["embedding"], feed)
        return unit_rows(vectors)
