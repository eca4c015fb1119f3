import numpy as np
import pytest

from assistant import Filters, Retriever
from assistant.errors import AssistantError
from assistant.pipeline import build_knowledge_base
from assistant.retriever import best_per_record
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


def test_best_per_record_keeps_each_papers_best_passage_in_score_order():
    passage_record = np.array([0, 0, 1, 1, 1, 2, 3])  # passage row -> paper row
    rows = np.array([4, 1, 3, 0, 6, 2, 5])  # sorted by score, best first
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3], dtype=np.float32)
    assert best_per_record(rows, scores, passage_record, 10) == [(1, 4, pytest.approx(0.9)),
                                                                 (0, 1, pytest.approx(0.8)),
                                                                 (3, 6, pytest.approx(0.5)),
                                                                 (2, 5, pytest.approx(0.3))]
    assert [r for r, _, _ in best_per_record(rows, scores, passage_record, 2)] == [1, 0]
    assert best_per_record(rows[:0], scores[:0], passage_record, 3) == []
