"""Corpus folder to knowledge base in one call: read, validate, merge, embed, write atomically; and the default
knowledge base built from the shipped corpus on first use, so an installed package works without a build step."""

from __future__ import annotations

import sys
from pathlib import Path

from .config import DEFAULT_MODEL, Settings, load_settings
from .corpus import read_corpus_dir
from .encoders import get_encoder, get_query_encoder
from .kb.store import CURRENT, BuildReport, build, locked, versions


def build_knowledge_base(corpus: str | Path | None = None, index: str | Path | None = None,
                         model: str | None = None, settings: Settings | None = None, progress: bool = False,
                         on_stage=None, layout: str | None = None, bm25_tokens: bool | None = None) -> BuildReport:
    settings = settings or load_settings({"corpus": corpus, "index": index, "model": model})
    records = read_corpus_dir(settings.corpus_dir)
    encoder = get_encoder(settings.model or DEFAULT_MODEL, settings.precision, settings.document_encoder)
    report = build(records, settings.index_dir, encoder, progress=progress, on_stage=on_stage, layout=layout,
                   bm25_tokens=bm25_tokens)
    if settings.query_encoder != "torch":  # export the fast query encoder now, so the first search is fast too
        get_query_encoder(settings.model or DEFAULT_MODEL, settings.precision, settings.query_encoder)
    return report


def ensure_default_knowledge_base(settings: Settings) -> BuildReport | None:
    """Build the shipped corpus into the default knowledge base when it does not exist yet (first use of the CLI,
    ``Retriever.load()``, the chat or the API), saying so on stderr; return the report, or ``None`` when there was
    nothing to do. A knowledge base the user named (``--index``, ``CHECKPOINT_QA_INDEX``) is never built behind
    their back, and a damaged one is left for ``checkpoint-qa repair``. Two processes starting together build once:
    the second waits on the first's lock and then finds the knowledge base there."""
    if settings.index is not None:
        return None
    index_dir = settings.index_dir
    if (index_dir / CURRENT).is_file() or versions(index_dir):
        return None
    with locked(index_dir):
        if (index_dir / CURRENT).is_file():
            return None
        corpus = settings.corpus_dir
        print(f"First use: building the knowledge base from the shipped corpus ({corpus}) into {index_dir}; "
              "this happens once.", file=sys.stderr, flush=True)
        report = build_knowledge_base(settings=settings, on_stage=lambda m: print(f"  {m}", file=sys.stderr,
                                                                                    flush=True))
        print(report.summary(), file=sys.stderr, flush=True)
        return report

