"""Conversations kept as JSON in the browser come back as the same answers; copy gives clean text."""

import json

from assistant import Answerer, Retriever, load_settings
from assistant import conversations
from assistant.pipeline import build_knowledge_base
from assistant.render import conversation_sources, plain_answer, quote_in_context
from assistant.types import Record
from conftest import FAKE


def test_a_saved_conversation_restores_its_answers_from_the_knowledge_base(small_corpus, tmp_path):
    build_knowledge_base(corpus=small_corpus, index=tmp_path / "kb", model=FAKE)
    answerer = Answerer(Retriever.load(tmp_path / "kb"), load_settings({"min_score": 0.2}))
    first = answerer.answer("Do JAK1 or JAK2 mutations cause resistance to anti-PD-1 therapy?")
    assert first.citations
    messages = [{"role": "user", "content": [{"type": "text", "text": first.question}]},
                {"role": "assistant", "content": "answer"}]
    saved = conversations.save([], "c1", messages, [first])
    saved = json.loads(json.dumps(saved))  # what the browser stores
    assert conversations.choices(saved)[0][1] == "c1" and first.question[:30] in conversations.choices(saved)[0][0]
    entry = conversations.find(saved, "c1")
    assert entry["messages"][0] == {"role": "user", "content": first.question}
    restored = conversations.restore_answer(answerer.retriever.kb, entry["answers"][0])
    assert [(c.n, c.record.id, c.all_quotes) for c in restored.sources] == \
        [(c.n, c.record.id, c.all_quotes) for c in first.sources]
    assert restored.text == first.text and restored.query == first.query
    assert 'id="source-1-1"' in conversation_sources([restored])
    saved = conversations.save(saved, "c2", messages, [first])
    assert [c["id"] for c in saved] == ["c2", "c1"]  # newest first
    assert len(conversations.save([{"id": str(i)} for i in range(40)], "new", messages, [])) == \
        conversations.MAX_SAVED


def test_copy_gives_the_answer_with_its_numbered_references(small_corpus, tmp_path):
    build_knowledge_base(corpus=small_corpus, index=tmp_path / "kb", model=FAKE)
    answer = Answerer(Retriever.load(tmp_path / "kb"), load_settings({"min_score": 0.2})).answer(
        "Do JAK1 or JAK2 mutations cause resistance to anti-PD-1 therapy?")
    text = plain_answer(answer)
    assert "\\[" not in text and "](" not in text and "<a" not in text
    assert "\nReferences\n[1] Shin DS" in text and "https://pubmed.ncbi.nlm.nih.gov/1/" in text


def test_every_quote_is_marked_in_its_context():
    record = Record("r", "abstract", "T", text="First finding here. Filler sentence one. " + "Pad. " * 80 +
                    "Second finding there. The end.")
    html = quote_in_context(record, ("First finding here.", "Second finding there.", "Not in the text."))
    assert html.count("<mark>") == 3
    assert "<mark>First finding here.</mark>" in html and "<mark>Second finding there.</mark>" in html
    assert "<mark>Not in the text.</mark>" in html
