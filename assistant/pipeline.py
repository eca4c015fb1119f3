"""Corpus folder to knowledge base in one call: read, validate, merge, embed, write atomically."""

from __future__ import annotations

from pathlib import Path

from .config import DEFAULT_MODEL, Settings, load_settings
from .corpus import read_corpus_dir
from .encoders import get_encoder, get_query_encoder
from .kb.store import BuildReport, build


def build_knowledge_base(corpus: str | Path | None = None, index: str | Path | None = None,
                         model: str | None = None, settings: Settings | None = None, progress: bool = False,
                         on_stage=None, layout: str | None = None) -> BuildReport:
    settings = settings or load_settings({"corpus": corpus, "index": index, "model": model})
    records = read_corpus_dir(settings.corpus_dir)
    encoder = get_encoder(settings.model or DEFAULT_MODEL, settings.precision, settings.document_encoder)
    report = build(records, settings.index_dir, encoder, progress=progress, on_stage=on_stage, layout=layout)
    if settings.query_encoder != "torch":  # export the fast query encoder now, so the first search is fast too
        get_query_encoder(settings.model or DEFAULT_MODEL, settings.precision, settings.query_encoder)
    return report
