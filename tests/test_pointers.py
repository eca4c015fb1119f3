"""Follow-ups that point at the previous answer ("tell me more about the second source", "why?") read those
papers again instead of being searched (and refused) as new questions; a card knows every quote behind it."""

import pytest

from assistant import Answerer, Retriever, load_settings
from assistant.answer.followup import Pointer, pointer
from assistant.answer.verify import Verifier
from assistant.pipeline import build_knowledge_base
from conftest import FAKE, write_jsonl


@pytest.mark.parametrize("text, expected", [
    ("tell me more about the second source", Pointer((2,))),
    ("What did [3] find?", Pointer((3,))),
    ("why?", Pointer()),
    ("How so?", Pointer()),
    ("tell me more", Pointer()),
    ("what did the first paper find about CD8 T cells?", Pointer((1,), "cd8 t cells")),
    ("and the last one?", Pointer((-1,))),
])
def test_pointing_follow_ups_are_recognised(text, expected):
    assert pointer(text) == expected


@pytest.mark.parametrize("text", ["Why does PTEN loss cause resistance to PD-1 blockade?", "and in lung cancer?",
                                  "How do JAK1/2 mutations cause resistance?", "What is hyperprogression?"])
def test_full_questions_are_not_pointers(text):
    assert pointer(text) is None


@pytest.fixture
def kb(tmp_path):
    rows = [
        {"id": "jak", "type": "abstract", "title": "JAK1 and JAK2 mutations in melanoma", "pmid": "11",
         "text": "Loss-of-function mutations in JAK1 or JAK2 abolished interferon gamma signalling in melanoma. "
                 "Melanoma patients with JAK1 or JAK2 mutations did not respond to PD-1 blockade. "
                 "JAK1 or JAK2 loss prevented PD-L1 upregulation after interferon gamma exposure."},
        {"id": "b2m", "type": "abstract", "title": "B2M loss and resistance to PD-1 blockade", "pmid": "22",
         "text": "Loss of B2M removed MHC class I from melanoma cells resistant to PD-1 blockade. "
                 "B2M mutations were found in tumours that relapsed after PD-1 blockade."},
        {"id": "gut", "type": "abstract", "title": "Gut microbiome and anti-PD-1 immunotherapy", "pmid": "33",
         "text": "Patients with a diverse gut microbiome responded better to anti-PD-1 immunotherapy."},
    ]
    write_jsonl(tmp_path / "c" / "r.jsonl", rows)
    build_knowledge_base(corpus=tmp_path / "c", index=tmp_path / "kb", model=FAKE)
    return Answerer(Retriever.load(tmp_path / "kb"), load_settings({"min_score": 0.1, "max_citations": 3}))


QUESTION = "Do JAK1 or JAK2 mutations in melanoma cause resistance to PD-1 blockade?"


def test_tell_me_more_reads_the_pointed_paper_again_and_quotes_what_was_not_shown(kb):
    first = kb.answer(QUESTION)
    assert first.citations, first.text
    target = first.sources[0]
    more = kb.answer("tell me more about the first source", [QUESTION], previous=first)
    assert not more.refused, more.text
    assert {c.record.id for c in more.sources} == {target.record.id}
    assert more.scope.startswith("source 1 of the previous answer: ")
    shown_before = set(target.all_quotes)
    assert any(q not in shown_before for c in more.citations for q in c.all_quotes), more.text
    assert more.query == first.query


def test_why_reads_the_cited_papers_and_a_missing_source_is_named(kb):
    first = kb.answer(QUESTION)
    why = kb.answer("why?", [QUESTION], previous=first)
    assert {c.record.id for c in why.sources} <= {c.record.id for c in first.citations}
    assert "sources" in why.scope or "source 1" in why.scope
    missing = kb.answer("what did the ninth source find?", [QUESTION], previous=first)
    assert missing.refused and "there is no source 9" in missing.text
    assert kb.answer("why?").refused  # with no earlier answer, nothing to point at


def test_a_card_knows_every_quote_behind_the_sentences_that_cite_it(kb):
    retriever = kb.retriever
    hits = retriever.search(QUESTION, k=3)
    n = next(i for i, h in enumerate(hits, 1) if h.record.id == "jak")
    text = (f"Melanoma patients with JAK1 or JAK2 mutations did not respond to PD-1 blockade [{n}]. "
            f"JAK1 or JAK2 loss prevented PD-L1 upregulation after interferon gamma exposure [{n}].")
    verified = Verifier(retriever.encoder).verify(text, hits)
    (citation,) = verified.citations
    assert len(citation.all_quotes) == 2
    assert citation.to_dict()["quotes"] == list(citation.all_quotes)
