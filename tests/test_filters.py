"""Filters that say what they do (issue 18): a backwards year range, a year past the knowledge base and a
publication type no record has each give "No papers match these filters" with the reason, never a refusal that
blames the question; the chat's year boxes accept years only; every retrieved paper is listed."""

import pytest

from assistant import Answerer, Retriever, load_settings
from assistant.errors import AssistantError
from assistant.render import sources_html
from assistant.retriever import Filters
from assistant.ui import read_filters

QUESTION = "Do JAK1 mutations cause resistance to anti-PD-1 therapy?"


@pytest.fixture(scope="module")
def answerer(shipped_fake_kb):
    return Answerer(Retriever.load(shipped_fake_kb), load_settings({"min_score": 0.2}))


@pytest.mark.parametrize("filters, why", [
    (Filters(2022, 2015), "the year range runs backwards (from 2022 to 2015)"),
    (Filters(2090, None), "the newest paper in the knowledge base is from"),
    (Filters(None, 1900), "the oldest paper in the knowledge base is from"),
    (Filters(publication_types=("Veterinary Opinion",)), "no paper has publication type Veterinary Opinion"),
])
def test_filters_that_leave_nothing_say_so(answerer, filters, why):
    answer = answerer.answer(QUESTION, filters=filters)
    assert answer.refused and answer.text.startswith("No papers match these filters (")
    assert why in answer.text and answer.reason.startswith("filters: ")
    assert "close enough" not in answer.text and not answer.citations


def test_filters_that_leave_papers_answer(answerer):
    answer = answerer.answer(QUESTION, filters=Filters(2010, 2030))
    assert not answer.text.startswith("No papers match")
    assert Filters(2010, 2030).describe() == "years 2010–2030"
    assert Filters(types=("full_text",), publication_types=("Review",)).describe() == \
        "record type full text · publication type Review"


def test_year_boxes_accept_years_only():
    assert read_filters("", " ", [], "") == Filters()
    assert read_filters("2015", "2022", ["abstract"], "Review, Meta-Analysis") == Filters(
        2015, 2022, ("abstract",), ("Review", "Meta-Analysis"))
    with pytest.raises(AssistantError, match="From year must be a year such as 2015"):
        read_filters("0", "", [], "")
    with pytest.raises(AssistantError, match="To year"):
        read_filters("", "20x5", [], "")


def test_every_retrieved_paper_is_listed(answerer):
    answer = answerer.answer(QUESTION)
    panel = sources_html(answer)
    listed = {c.record.id for c in answer.sources}
    others = [h for h in answer.hits if h.record.id not in listed]
    assert others and f"Also retrieved, not cited ({len(others)})" in panel
    for hit in others:
        assert hit.record.title.replace("&", "&amp;").replace("<", "&lt;")[:40] in panel


def test_engines_that_cannot_run_are_not_offered_and_say_why(monkeypatch):
    from dataclasses import replace

    from assistant.ui import engine_choices, engines_unavailable
    settings = load_settings()
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert [v for _, v in engine_choices(settings)] == ["extractive"]
    why = engines_unavailable(settings)
    assert "packaged Gemma is not installed" in why and "no Ollama server answers" in why
    assert "none configured (set openai_base_url in " in why
    configured = replace(settings, openai_base_url="http://127.0.0.1:9/v1", llm="llama3.1")
    assert [v for _, v in engine_choices(configured)] == ["extractive"]
    assert "server at http://127.0.0.1:9/v1: it does not answer" in engines_unavailable(configured)


def test_filter_columns_give_the_same_records_as_filtering_one_by_one(shipped_fake_kb):
    import random

    from assistant.kb.filter_columns import FilterColumns
    from assistant.kb.store import KnowledgeBase
    records = KnowledgeBase.load(shipped_fake_kb).records
    columns = FilterColumns(records)
    rng = random.Random(3)
    years = sorted({r.year for r in records if r.year})
    pub_types = sorted({t for r in records for t in r.extra.get("publication_types") or ()}) or ["Review"]
    journals = sorted({r.journal for r in records if r.journal})
    for _ in range(200):
        filters = Filters(rng.choice([None, *years]), rng.choice([None, *years]),
                          tuple(rng.sample(["full_text", "abstract", "title", "reference_title"], rng.randint(0, 2))),
                          tuple(t.upper() for t in rng.sample(pub_types, min(len(pub_types), rng.randint(0, 2)))),
                          tuple(rng.sample(journals, rng.randint(0, 2))),
                          ids=tuple(r.id for r in rng.sample(records, rng.choice([0, 0, 3]))))
        expected = [filters.accepts(r) for r in records]
        assert columns.mask(filters).tolist() == expected, filters


def test_a_filter_inside_the_ivf_search_finds_what_scanning_the_allowed_vectors_finds(tmp_path, monkeypatch):
    import assistant.retriever as retriever_module
    from assistant.kb.sources import newest_versions, parse_file
    from assistant.kb.synthetic import generate
    from assistant.kb.store import build
    from assistant.encoders import HashingEncoder
    layout = generate(tmp_path / "src", files=4, per_file=500, seed=5)
    records = newest_versions([parse_file(f) for f in layout.baseline]).records
    build(records, tmp_path / "kb", HashingEncoder(256), ivf_threshold=100)
    retriever = Retriever.load(tmp_path / "kb")
    assert retriever.kb.manifest["dense_index"]["kind"].startswith("ivf")
    filters = Filters(2005, 2015)
    mask = retriever.passage_mask(filters)
    assert 0.2 < mask.mean() < 0.6
    agree = []
    for query in ["JAK1 loss and resistance to anti-PD-1 therapy in melanoma", "B2M alterations in lung cancer",
                  "PTEN expression after CTLA-4 blockade", "TIGIT and CD8 T cells in renal cell carcinoma"]:
        vector = retriever.embed_query(query)
        monkeypatch.setattr(retriever_module, "EXACT_FILTERED_ROWS", 10 ** 9)
        scanned = retriever.dense_papers(vector, 10, mask)
        monkeypatch.setattr(retriever_module, "EXACT_FILTERED_ROWS", 0)
        selected = retriever.dense_papers(vector, 10, mask)
        assert all(mask[passage] for _, passage, _ in selected)  # only allowed passages come back
        agree.append(len({r for r, _, _ in selected} & {r for r, _, _ in scanned}) / 10)
    assert sum(agree) / len(agree) >= 0.9, agree


@pytest.mark.parametrize("filters", [Filters(2090, None), Filters(None, 1900),
                                     Filters(publication_types=("Veterinary Opinion",)),
                                     Filters(2015, 2016, publication_types=("Retracted Publication",))])
def test_a_sharded_knowledge_base_says_why_from_its_filter_columns_alone(answerer, sharded_answerer, filters,
                                                                          monkeypatch):
    """The same reason as the single layout, without reading a record (a million-paper knowledge base would
    otherwise parse every one)."""
    from assistant.kb.shards import ShardedRecords

    def no_reading(self):
        raise AssertionError("the reason was looked for record by record")

    single = answerer.answer(QUESTION, filters=filters)
    monkeypatch.setattr(ShardedRecords, "__iter__", no_reading)
    sharded = sharded_answerer.answer(QUESTION, filters=filters)
    assert sharded.refused and sharded.text == single.text and sharded.reason == single.reason


@pytest.fixture(scope="module")
def sharded_answerer(tmp_path_factory):
    pytest.importorskip("tantivy")
    from conftest import FAKE, SHIPPED

    from assistant.corpus import read_corpus_dir
    from assistant.encoders import get_encoder
    from assistant.kb.store import build
    folder = tmp_path_factory.mktemp("sharded") / "kb"
    build(read_corpus_dir(SHIPPED), folder, get_encoder(FAKE), layout="sharded")
    return Answerer(Retriever.load(folder), load_settings({"min_score": 0.2}))
