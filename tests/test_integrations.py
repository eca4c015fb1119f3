"""The LangChain and LlamaIndex retrievers, run through the real framework packages (not mocks of them) on the
shipped knowledge base with the packaged MiniLM."""

import pytest

from assistant.retriever import Filters, Retriever

pytestmark = pytest.mark.model
QUERY = "JAK1 JAK2 loss of function"
SHIN = "27903500"  # Shin et al. 2017, Cancer Discovery


def test_the_langchain_retriever_returns_documents_with_the_paper(shipped_minilm_kb):
    pytest.importorskip("langchain_core")
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    from assistant.integrations.langchain import CheckpointQARetriever
    retriever = CheckpointQARetriever(retriever=Retriever.load(shipped_minilm_kb), k=4)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke(QUERY)
    assert len(docs) == 4 and all(isinstance(d, Document) for d in docs)
    top = docs[0]
    assert top.metadata["pmid"] == SHIN and top.metadata["url"] == f"https://pubmed.ncbi.nlm.nih.gov/{SHIN}/"
    assert top.metadata["doi"] and top.metadata["rank"] == 1 and "JAK1" in top.page_content
    late = retriever.invoke(QUERY, filters={"year_min": 2019})
    assert late and all(d.metadata["year"] >= 2019 for d in late) and SHIN not in {d.metadata["pmid"] for d in late}
    fixed = CheckpointQARetriever(retriever=Retriever.load(shipped_minilm_kb), filters=Filters(year_max=2016))
    assert all(d.metadata["year"] <= 2016 for d in fixed.invoke(QUERY))
    assert [d.id for d in retriever.batch([QUERY, QUERY])[0]] == [d.id for d in docs]  # LangChain's own batching


def test_the_llamaindex_retriever_returns_scored_nodes(shipped_minilm_kb):
    pytest.importorskip("llama_index.core")
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore

    from assistant.integrations.llamaindex import CheckpointQALlamaRetriever
    retriever = CheckpointQALlamaRetriever(Retriever.load(shipped_minilm_kb), k=4)
    assert isinstance(retriever, BaseRetriever)
    nodes = retriever.retrieve(QUERY)
    assert len(nodes) == 4 and all(isinstance(n, NodeWithScore) for n in nodes)
    assert nodes[0].node.metadata["pmid"] == SHIN and nodes[0].score >= nodes[-1].score
    assert "JAK1" in nodes[0].node.get_content()
    late = CheckpointQALlamaRetriever(Retriever.load(shipped_minilm_kb), k=4, filters={"year_min": 2019})
    found = late.retrieve(QUERY)
    assert found and all(n.node.metadata["year"] >= 2019 for n in found)


def test_a_bad_filter_is_one_clear_error(shipped_minilm_kb):
    pytest.importorskip("langchain_core")
    from assistant.integrations.langchain import CheckpointQARetriever
    retriever = CheckpointQARetriever(retriever=Retriever.load(shipped_minilm_kb))
    from assistant.errors import AssistantError
    with pytest.raises(AssistantError, match="unknown filter 'year_minimum'; use: year_min, year_max"):
        retriever.invoke(QUERY, filters={"year_minimum": 2019})
    assert all(d.metadata["type"] == "abstract" for d in retriever.invoke(QUERY, filters={"types": "abstract"}))
