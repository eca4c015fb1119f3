"""Checkpoint QA as a LlamaIndex retriever (``llama-index-core``'s ``BaseRetriever``).

    from assistant.integrations.llamaindex import CheckpointQALlamaRetriever
    retriever = CheckpointQALlamaRetriever.load(k=5, filters={"year_min": 2016})
    nodes = retriever.retrieve("JAK1 JAK2 loss of function")

Each ``NodeWithScore`` is one paper: a ``TextNode`` holding the passage that matched, with the paper and the match
as metadata (``integrations.hit_metadata``), scored by the search's ranking score. It plugs into LlamaIndex query
engines like any retriever. Install with ``pip install 'checkpoint-qa[llamaindex]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

try:
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
except ImportError as exc:  # pragma: no cover - depends on the environment
    from ..errors import AssistantError
    raise AssistantError("the LlamaIndex retriever needs llama-index-core: pip install "
                         "'checkpoint-qa[llamaindex]'") from exc

from . import as_filters, hit_metadata


class CheckpointQALlamaRetriever(BaseRetriever):
    """Search a Checkpoint QA knowledge base from LlamaIndex."""

    def __init__(self, retriever, k: int = 5, filters: Any = None, mode: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.retriever, self.k, self.filters, self.mode = retriever, k, as_filters(filters), mode

    @classmethod
    def load(cls, index_dir: str | Path | None = None, **kwargs: Any) -> "CheckpointQALlamaRetriever":
        from ..retriever import Retriever
        return cls(Retriever.load(index_dir), **kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.retriever.search(query_bundle.query_str, self.k, self.filters, mode=self.mode)
        return [NodeWithScore(node=TextNode(text=h.passage.matched_text, id_=f"{h.record.id}#{h.passage.ordinal}",
                                            metadata=hit_metadata(h)), score=h.score) for h in hits]
