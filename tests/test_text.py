import pytest

from assistant.corpus import merge_records, read_corpus_dir
from assistant.kb.passages import record_passages
from assistant.text import sentence_spans, sentences
from assistant.types import Record
from conftest import SHIPPED


def test_sentences_keep_abbreviations_decimals_and_initials():
    text = ("Wei S. C. et al. reported it in Fig. 2 of the paper. The effect was 2.5-fold (p < 0.05). "
            "However, e.g. in mice it failed! Was it real? Yes.")
    assert sentences(text) == [
        "Wei S. C. et al. reported it in Fig. 2 of the paper.",
        "The effect was 2.5-fold (p < 0.05).",
        "However, e.g. in mice it failed!",
        "Was it real?",
        "Yes.",
    ]


def test_spans_are_verbatim_on_every_shipped_abstract():
    for record in read_corpus_dir(SHIPPED):
        for start, end in sentence_spans(record.text):
            piece = record.text[start:end]
            assert piece and piece == piece.strip()
        joined = " ".join(sentences(record.text))
        assert joined.split() == record.text.split()


def test_passages_fit_the_encoder_and_cover_the_text():
    for record in merge_records(read_corpus_dir(SHIPPED)):
        passages = record_passages(record, max_words=150)
        assert passages and all(p.record_id == record.id for p in passages)
        for p in passages:
            if p.body:
                assert record.text[p.start:p.end] == p.body
                assert len(p.body.split()) <= 150 or len(sentences(p.body)) == 1
        if record.text:
            covered = set()
            for p in passages:
                covered.update(range(p.start, p.end))
            assert all(i in covered for i in range(len(record.text)) if not record.text[i].isspace())


def test_long_abstract_is_split_with_overlap():
    text = " ".join(f"Sentence number {i} talks about PD-1 resistance in some detail here." for i in range(60))
    passages = record_passages(Record("x", "abstract", "T", text), max_words=50)
    assert len(passages) > 5
    for a, b in zip(passages, passages[1:]):
        assert b.start < a.end  # one sentence of overlap


def test_windows_stop_at_the_token_budget_and_still_cover_the_text():
    from assistant.encoders.token_budget import TokenBudget
    budget = TokenBudget(limit=40, reserved=2, count=lambda texts: [2 * len(t.split()) for t in texts])
    text = " ".join(f"Sentence {i} reports that PD-1 blockade fails here." for i in range(12))  # 8 words each
    record = Record("x", "abstract", "Two words", text)
    by_words = record_passages(record, max_words=150)
    fitted = record_passages(record, max_words=150, budget=budget)
    assert len(by_words) == 1 and len(fitted) > 1
    for p in fitted:  # "Two words." (4 tokens) + at most two 16-token sentences within 38
        assert 2 * len(p.text.split()) + 2 <= 40
    covered = set()
    for a, b in zip(fitted, fitted[1:]):
        assert b.start < a.end
    for p in fitted:
        covered.update(range(p.start, p.end))
    assert all(i in covered for i in range(len(text)) if not text[i].isspace())
    lone = Record("y", "abstract", "T", "word " * 30 + "end.")  # one sentence over the budget: kept whole
    assert [p.body for p in record_passages(lone, budget=budget)] == [lone.text.strip()]


@pytest.mark.model
def test_every_shipped_passage_fits_minilm():
    from assistant.encoders import get_encoder, token_budget_of
    from assistant.kb.passages import split_records
    budget = token_budget_of(get_encoder(precision="fp32"))
    if budget is None:
        pytest.fail("the packaged MiniLM should have a token budget")
    assert (budget.limit, budget.reserved) == (256, 2)
    passages = split_records(merge_records(read_corpus_dir(SHIPPED)), 150, budget)
    sizes = budget.count([p.text for p in passages])
    over = [p for p, n in zip(passages, sizes) if n + budget.reserved > budget.limit]
    assert all(len(sentences(p.body)) == 1 for p in over)  # only a sentence too long on its own
    assert len(passages) > len(split_records(merge_records(read_corpus_dir(SHIPPED)), 150))
