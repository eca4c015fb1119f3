import re

import pytest

from assistant import Answerer, Retriever, load_settings
from assistant.answer.extractive import cite
from assistant.pipeline import build_knowledge_base
from assistant.text import sentences
from conftest import FAKE

CITED_SENTENCE = re.compile(r"(\[\d+\])+[.?!]?$")


def answer_sentences(text: str) -> list[str]:
    return [s for paragraph in text.split("\n\n") for s in re.split(r"(?<=\]\.)\s+|(?<=\])\s+(?=[A-Z])", paragraph)
            if s.strip()]


def check_grounded(answer):
    """Every sentence carries a citation, numbers are 1..n, and every quote is verbatim source text."""
    assert not answer.refused and answer.citations
    for sentence in answer_sentences(answer.text):
        assert CITED_SENTENCE.search(sentence), sentence
    cited = sorted({int(n) for n in re.findall(r"\[(\d+)\]", answer.text)})
    assert cited == [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        assert c.quote in c.record.title or c.quote in sentences(c.record.text)
        assert f"{c.quote.rstrip('.?!')} [{c.n}]" in answer.text
    ids = [c.record.id for c in answer.citations]
    assert len(ids) == len(set(ids))


@pytest.fixture
def answerer(small_corpus, tmp_path):
    build_knowledge_base(corpus=small_corpus, index=tmp_path / "kb", model=FAKE)
    return Answerer(Retriever.load(tmp_path / "kb"), load_settings({"min_score": 0.2}))


def test_answer_quotes_the_best_sentences_with_citations(answerer):
    answer = answerer.answer("Do JAK1 or JAK2 mutations cause resistance to anti-PD-1 therapy?")
    check_grounded(answer)
    assert answer.citations[0].record.id == "pmid:1"
    assert answer.citations[0].quote in [answer.citations[0].record.title] + sentences(answer.citations[0].record.text)


def test_off_topic_question_is_refused(answerer):
    answer = answerer.answer("What is the capital of Australia?")
    assert answer.refused and not answer.citations
    assert "can't answer" in answer.text
    assert answer.to_dict()["refused"] is True


def test_stream_grows_to_the_final_answer(answerer):
    steps = list(answerer.stream("gut microbiome and anti-PD-1 immunotherapy response"))
    texts = [t for t, _ in steps]
    drafts = texts[:-1]  # the engine's text as it streams; the last step is the verified, renumbered answer
    assert len(drafts) >= 2 and all(b.startswith(a) for a, b in zip(drafts, drafts[1:]))
    assert steps[-1][1] is not None and steps[-1][1].text == texts[-1]
    assert all(final is None for _, final in steps[:-1])


def test_shipped_corpus_answers_are_grounded(shipped_fake_kb):
    answerer = Answerer(Retriever.load(shipped_fake_kb), load_settings({"min_score": 0.15}))
    for question in ["gut microbiome response to anti-PD-1 immunotherapy",
                     "loss of PTEN promotes resistance to T cell immunotherapy",
                     "myeloid-derived suppressor cells"]:
        check_grounded(answerer.answer(question))


def test_cite_places_the_marker_before_the_full_stop():
    assert cite("PD-1 works.", 2) == "PD-1 works [2]."
    assert cite("A title without a stop", 1) == "A title without a stop [1]."
    assert cite("Does it work?", 3) == "Does it work [3]?"
