import pytest

from assistant import Filters, Retriever
from assistant.errors import AssistantError
from assistant.pipeline import build_knowledge_base
from conftest import FAKE


@pytest.fixture
def retriever(small_corpus, tmp_path):
    build_knowledge_base(corpus=small_corpus, index=tmp_path / "kb", model=FAKE)
    return Retriever.load(tmp_path / "kb")


def test_search_returns_ranked_hits_with_metadata(retriever):
    hits = retriever.search("JAK1 JAK2 loss-of-function mutations", k=3)
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].record.id == "pmid:1" and hits[0].record.journal == "Cancer Discov."
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert hits[0].passage.matched_text in hits[0].record.text
    d = hits[0].to_dict()
    for key in ("rank", "score", "id", "type", "title", "text", "authors", "journal", "year", "doi", "pmid", "url"):
        assert key in d
    assert d["url"] == "https://pubmed.ncbi.nlm.nih.gov/1/"


def test_a_paper_is_returned_once(retriever):
    hits = retriever.search("gut microbiome anti-PD-1 immunotherapy response", k=10)
    ids = [h.record.id for h in hits]
    assert len(ids) == len(set(ids)) == 4  # five source lines, four papers
    gut = next(h for h in hits if h.record.pmid == "2")
    assert gut.record.extra["ref_number"] == 9


def test_type_filter_counts_merged_types(retriever):
    hits = retriever.search("anti-PD-1 immunotherapy", k=5, filters=Filters(types=("reference_title",)))
    assert [h.record.pmid for h in hits] == ["2"]


@pytest.mark.parametrize("query", ["", "   ", "x" * 5000])
def test_bad_queries_get_clear_errors(retriever, query):
    with pytest.raises(AssistantError):
        retriever.search(query)
