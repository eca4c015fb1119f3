"""Checkpoint QA as a LangChain retriever (``langchain-core``'s ``BaseRetriever``).

    from assistant.integrations.langchain import CheckpointQARetriever
    retriever = CheckpointQARetriever.load(k=5)                      # the default knowledge base
    docs = retriever.invoke("JAK1 JAK2 loss of function", filters={"year_min": 2016})

Each ``Document`` is one paper: ``page_content`` is the passage that matched (abstract sentences, or the title for
a paper known by its title alone) and ``metadata`` the paper (PMID, DOI, link, authors, journal, year), the rank,
the scores and the matching sentences (``integrations.hit_metadata``). Install with ``pip install
'checkpoint-qa[langchain]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
except ImportError as exc:  # pragma: no cover - depends on the environment
    from ..errors import AssistantError
    raise AssistantError("the LangChain retriever needs langchain-core: pip install 'checkpoint-qa[langchain]'") \
        from exc
from pydantic import ConfigDict

from . import as_filters, hit_metadata


class CheckpointQARetriever(BaseRetriever):
    """Search a Checkpoint QA knowledge base; ``k``, ``filters`` and ``mode`` may also be given per call."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any  # an assistant.Retriever
    k: int = 5
    filters: Any = None  # a Filters or a mapping of its fields
    mode: str | None = None  # hybrid (default), dense or sparse

    @classmethod
    def load(cls, index_dir: str | Path | None = None, **fields: Any) -> "CheckpointQARetriever":
        from ..retriever import Retriever
        return cls(retriever=Retriever.load(index_dir), **fields)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None, filters: Any = None, mode: str | None = None) -> list[Document]:
        hits = self.retriever.search(query, k or self.k, as_filters(filters if filters is not None else self.filters),
                                     mode=mode or self.mode)
        return [Document(page_content=h.passage.matched_text, metadata=hit_metadata(h), id=h.record.id)
                for h in hits]
