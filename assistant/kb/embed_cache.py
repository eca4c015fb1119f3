"""Vectors an unfinished build has already embedded, kept beside the knowledge base so a rerun embeds only the rest.

A build spills each batch of fresh vectors, with their passage keys, to ``INDEX/.embedding/`` as it arrives
(written beside, then renamed, so a killed build leaves whole files or none). The next build of the same model and
precision reads them back and embeds only passages it finds nowhere: not in the live version, not here. A completed
build removes the folder. Keys are passage keys (``store.passage_key``: the text's hash), so a vector written twice by
a retried batch is the same vector, and a passage is never embedded into the wrong row.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Sequence

import numpy as np


class EmbedCache:
    def __init__(self, index_dir: Path, model: str, precision: str, dimension: int):
        self.folder = Path(index_dir) / ".embedding"
        self.meta = {"model": model, "precision": precision, "dimension": int(dimension)}

    def load(self) -> dict[str, np.ndarray]:
        """The spilled vectors by passage key; a cache of another model or precision is discarded."""
        try:
            meta = json.loads((self.folder / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.clear()
            return {}
        if meta != self.meta:
            self.clear()
            return {}
        found: dict[str, np.ndarray] = {}
        for part in sorted(self.folder.glob("part-*.npz")):
            try:
                with np.load(part, allow_pickle=False) as data:
                    keys, vectors = data["keys"], data["vectors"]
            except (OSError, ValueError, KeyError):
                continue  # a damaged part is simply embedded again
            if vectors.shape == (len(keys), self.meta["dimension"]):
                found.update(zip(keys.tolist(), vectors))
        return found

    def spill(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        if not len(keys):
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            meta = self.folder / "meta.json"
            if not meta.is_file():
                staging = self.folder / f".meta-{uuid.uuid4().hex}"
                staging.write_text(json.dumps(self.meta), encoding="utf-8")
                os.replace(staging, meta)
            name = uuid.uuid4().hex
            staging = self.folder / f".part-{name}.npz"
            np.savez(staging, keys=np.asarray(list(keys)), vectors=np.asarray(vectors, dtype=np.float32))
            os.replace(staging, self.folder / f"part-{name}.npz")
        except OSError:
            pass  # resuming is a saving, not a requirement: the build goes on without it

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
