"""Answers in one shape: bottom line first, one finding per paper, titles listed not written, gaps said."""

import re

import pytest

from assistant import Answerer, Retriever, load_settings
from assistant.answer.extractive import cite
from assistant.answer.relevance import standalone
from assistant.pipeline import build_knowledge_base
from assistant.text import sentences
from conftest import FAKE, write_jsonl

CITED_SENTENCE = re.compile(r"(\[\d+\])+[.?!]?$")
DANGLING = re.compile(r"^(Also|Furthermore|Moreover|However|In addition|Thus|Therefore|BACKGROUND|METHODS|RESULTS|"
                      r"CONCLUSIONS?|Conclusions?:)\b")


def claims(answer) -> list[str]:
    """The answer's sentences that state something: the bottom line and the findings."""
    return [s for part in answer.bottom_line + answer.findings for s in re.split(r"(?<=\]\.)\s+", part) if s.strip()]


def check_grounded(answer):
    """Every claim carries a citation to an abstract sentence, numbers run 1..n over citations then related papers,
    every quote is a verbatim source sentence, and every claim is its quote made to stand alone."""
    assert not answer.refused and answer.citations and answer.bottom_line
    for sentence in claims(answer):
        assert CITED_SENTENCE.search(sentence), sentence
        assert not DANGLING.match(sentence), sentence
        assert not sentence.rstrip(" .").endswith("?"), sentence
    numbers = [c.n for c in answer.citations + answer.related]
    assert numbers == list(range(1, len(numbers) + 1))
    cited = sorted({int(n) for part in answer.bottom_line + answer.findings for n in re.findall(r"\[(\d+)\]", part)})
    assert cited == [c.n for c in answer.citations]
    for c in answer.citations:
        assert c.evidence == "abstract" and c.quote in sentences(c.record.text) and c.quote != c.record.title
        assert cite(standalone(c.quote), c.n) in answer.text
        assert c.relevance is not None and c.support is not None
    for c in answer.related:
        assert c.evidence == "title" and not c.record.text and c.record.title not in " ".join(claims(answer))
    ids = [c.record.id for c in answer.citations + answer.related]
    assert len(ids) == len(set(ids))


@pytest.fixture
def answerer(small_corpus, tmp_path):
    build_knowledge_base(corpus=small_corpus, index=tmp_path / "kb", model=FAKE)
    return Answerer(Retriever.load(tmp_path / "kb"), load_settings({"min_score": 0.2}))


def test_answer_leads_with_the_best_abstract_sentence(answerer):
    answer = answerer.answer("Do JAK1 or JAK2 mutations cause resistance to anti-PD-1 therapy?")
    check_grounded(answer)
    first = answer.citations[0]
    assert first.record.id == "pmid:1" and answer.bottom_line[0].endswith("[1].")
    assert first.quote in sentences(first.record.text)  # the abstract wins over the title
    assert answer.basis.startswith("From 1 abstract")
    assert answer.to_dict()["citations"][0]["evidence"] == "abstract"


def test_title_only_paper_is_listed_as_related_not_written_as_a_finding(answerer):
    answer = answerer.answer("Does the gut microbiome modulate response to anti-PD-1 immunotherapy?")
    assert not answer.refused
    related = [c.record.id for c in answer.related]
    assert "pmid:2" in related and "pmid:2" not in [c.record.id for c in answer.citations]
    assert "Gut microbiome modulates response" not in " ".join(answer.bottom_line + answer.findings)
    assert "by title only" in answer.text and "title" in answer.basis
    assert answer.to_dict()["related"][0]["evidence"] == "title"


def test_key_term_no_source_mentions_is_named(answerer):
    answer = answerer.answer("Do JAK1 or JAK2 mutations or B2M loss cause resistance to anti-PD-1 therapy?")
    assert "B2M" in answer.gaps and "JAK1" not in answer.gaps
    assert "None of the sources here mentions B2M." in answer.text
    assert answer.to_dict()["gaps"] == list(answer.gaps)


def test_off_topic_question_is_refused(answerer):
    answer = answerer.answer("What is the capital of Australia?")
    assert answer.refused and not answer.citations
    assert "can't answer" in answer.text
    assert answer.to_dict()["refused"] is True


def test_stream_grows_to_the_final_answer(answerer):
    steps = list(answerer.stream("Do JAK1 or JAK2 mutations cause resistance to anti-PD-1 therapy?"))
    texts = [t for t, _ in steps]
    drafts = texts[:-1]  # the engine's text as it streams; the last step is the composed answer
    assert drafts and all(b.startswith(a) for a, b in zip(drafts, drafts[1:]))
    assert steps[-1][1] is not None and steps[-1][1].text == texts[-1]
    assert all(final is None for _, final in steps[:-1])


def test_sentences_stand_alone_and_off_topic_sentences_are_left_out(tmp_path):
    rows = [{"id": "pmid:7", "type": "abstract", "title": "PTEN loss and resistance to anti-PD-1 therapy",
             "text": "BACKGROUND: Checkpoint inhibitors help some patients. "
                     "Also, the rs2476601 SNP was associated with systemic lupus erythematosus in a cohort. "
                     "CONCLUSIONS Loss of PTEN promotes resistance to anti-PD-1 therapy in melanoma. "
                     "Furthermore, PTEN loss reduced T cell infiltration into melanoma tumours.",
             "pmid": "7", "year": 2016}]
    write_jsonl(tmp_path / "c" / "r.jsonl", rows)
    build_knowledge_base(corpus=tmp_path / "c", index=tmp_path / "kb", model=FAKE)
    answer = Answerer(Retriever.load(tmp_path / "kb"), load_settings({"min_score": 0.1})).answer(
        "Does PTEN loss promote resistance to anti-PD-1 therapy?")
    check_grounded(answer)
    assert answer.bottom_line[0] == "Loss of PTEN promotes resistance to anti-PD-1 therapy in melanoma [1]."
    assert "lupus" not in answer.text  # supported by its source, but not relevant to the question
    assert answer.citations[0].quote.startswith("CONCLUSIONS Loss of PTEN")  # the quote stays verbatim


def test_shipped_corpus_answers_are_grounded(shipped_fake_kb):
    answerer = Answerer(Retriever.load(shipped_fake_kb), load_settings({"min_score": 0.15}))
    for question in ["Does inhibition of fatty acid oxidation modulate myeloid-derived suppressor cells?",
                     "Is PD-L1 expression associated with the efficacy of PD-1 or PD-L1 inhibitors?"]:
        check_grounded(answerer.answer(question))


def test_standalone_removes_labels_and_connectives_only():
    assert standalone("Also, the SNP was associated with lupus.") == "The SNP was associated with lupus."
    assert standalone("CONCLUSIONS PD-1 or PD-L1 blockade improved survival.") == \
        "PD-1 or PD-L1 blockade improved survival."
    assert standalone("RESULTS: mTOR was active in 12 of 20 tumours.") == "mTOR was active in 12 of 20 tumours."
    assert standalone("However, in conclusion, X rose.") == "X rose."
    assert standalone("Altered recognition of antigen is a mechanism.") == "Altered recognition of antigen is a mechanism."


def test_cite_places_the_marker_before_the_full_stop():
    assert cite("PD-1 works.", 2) == "PD-1 works [2]."
    assert cite("A sentence without a stop", 1) == "A sentence without a stop [1]."


def test_closest_papers_are_listed_by_title_when_nothing_is_relevant(tmp_path):
    rows = [{"id": "pmid:8", "type": "abstract", "title": "Interleukin signalling in wound healing",
             "text": "Interleukin signalling shaped wound healing in mice over several weeks.", "pmid": "8"}]
    write_jsonl(tmp_path / "c" / "r.jsonl", rows)
    build_knowledge_base(corpus=tmp_path / "c", index=tmp_path / "kb", model=FAKE)
    answer = Answerer(Retriever.load(tmp_path / "kb"), load_settings({"min_score": 0.01})).answer(
        "Does interleukin signalling predict resistance to anti-PD-1 therapy in melanoma?")
    assert answer.refused and not answer.citations and "Closest papers:" in answer.text
    assert [(c.record.id, c.quote, c.evidence) for c in answer.related] == \
        [("pmid:8", "Interleukin signalling in wound healing", "title")]
