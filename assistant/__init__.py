"""Checkpoint QA: offline, cited answers about resistance to immune checkpoint inhibitors.

The public API is loaded lazily, so ``import assistant`` imports neither torch nor gradio (nor FAISS): each name
below is resolved on first use.

    from assistant import Retriever
    retriever = Retriever.load()            # the shipped knowledge base, built with `checkpoint-qa build`
    for hit in retriever.search("JAK1/2 loss of function", k=5):
        print(hit.rank, hit.record.title, hit.record.link)
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Record": "types", "Passage": "types", "Hit": "types", "Citation": "types", "Answer": "types",
    "AssistantError": "errors", "Settings": "config", "load_settings": "config",
    "Retriever": "retriever", "Filters": "retriever", "KnowledgeBase": "kb.store", "build": "kb.store",
    "read_corpus_dir": "corpus", "Answerer": "answer", "get_encoder": "encoders",
    "build_knowledge_base": "pipeline",
}
__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'assistant' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
