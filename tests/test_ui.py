import socket
import urllib.request

import pytest

from assistant import Answerer, Retriever, load_settings
from assistant.pipeline import build_knowledge_base
from assistant.render import answer_markdown, escape_markdown, sources_html
from assistant.types import Answer, Citation, Record
from assistant.ui import EXAMPLES, build_app, respond
from conftest import FAKE, write_jsonl

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def answerer(small_corpus, tmp_path):
    build_knowledge_base(corpus=small_corpus, index=tmp_path / "kb", model=FAKE)
    return Answerer(Retriever.load(tmp_path / "kb"), load_settings({"min_score": 0.2}))


def test_respond_streams_the_answer_and_fills_the_sources(answerer):
    steps = list(respond(answerer, "Do JAK1 or JAK2 mutations cause resistance to anti-PD-1 therapy?", [],
                         answer_no=1))
    assert len(steps) >= 2
    history, status, final = steps[-1]
    assert final is not None and final.citations and "Answered in" in status
    assert history[0] == {"role": "user", "content": "Do JAK1 or JAK2 mutations cause resistance to anti-PD-1 therapy?"}
    assert history[-1]["role"] == "assistant"
    assert 'href="#source-1-1" class="cqa-cite"' in history[-1]["content"]  # the number leads to its card
    assert "Source 1: Shin et al., 2017, JAK1 and JAK2" in history[-1]["content"]  # named after its paper
    panel = sources_html(final, 1)
    assert 'id="source-1-1"' in panel and "Shin DS" in panel and "abstract sentence" in panel
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/1/"' in panel
    assert history[-1]["content"].startswith("**Bottom line.** ")
    echoed, searching, partial = steps[0]
    assert partial is None and echoed[-1]["role"] == "user" and "Searching" in searching


def test_related_papers_show_as_title_only_cards(answerer):
    history, _, final = list(respond(answerer, "Does the gut microbiome modulate response to anti-PD-1?", []))[-1]
    panel = sources_html(final)
    assert final.related and "title only" in panel and 'href="https://pubmed.ncbi.nlm.nih.gov/2/"' in panel
    assert "Topics: gut microbiome" in panel and "Related papers, known here by title only" in history[-1]["content"]


def test_respond_keeps_the_conversation_and_refuses_off_topic(answerer):
    earlier = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    history, _, final = list(respond(answerer, "What is the capital of Australia?", earlier))[-1]
    assert history[:2] == earlier and "can't answer" in history[-1]["content"]
    assert "No source answers this question" in sources_html(final)
    assert "`" not in history[-1]["content"] and "Knowledge base, Add files" in history[-1]["content"]


def test_respond_reports_errors_in_the_chat(answerer):
    history, status, _ = list(respond(answerer, "x" * 3000, []))[-1]
    assert history[-1]["content"].startswith("the query is") and "Could not answer" in status


def test_an_engine_failure_is_one_readable_message(answerer, caplog):
    class Broken:
        name = "openai"

        def generate(self, question, sources, query_vector=None):
            raise ConnectionRefusedError("[Errno 111] Connection refused")
            yield ""

    broken = Answerer(answerer.retriever, answerer.settings, engine=Broken())
    history, status, final = list(respond(broken, "Do JAK1 or JAK2 mutations cause resistance?", []))[-1]
    assert final is None and "failed" in status
    assert history[-1]["content"].startswith("The answer engine failed \\(ConnectionRefusedError: \\[Errno 111\\]")
    assert "Traceback" not in history[-1]["content"] and "Traceback" in caplog.text


def test_document_text_is_escaped(small_corpus, tmp_path):
    write_jsonl(small_corpus / "evil.jsonl", [{"id": "evil", "type": "abstract", "title": XSS,
                                                "text": f"PD-1 blockade fails {XSS} in mice.", "pmid": "99"}])
    build_knowledge_base(corpus=small_corpus, index=tmp_path / "kb2", model=FAKE)
    answerer = Answerer(Retriever.load(tmp_path / "kb2"), load_settings({"min_score": 0.0}))
    history, _, final = list(respond(answerer, "img src onerror alert PD-1 blockade fails in mice", []))[-1]
    panel = sources_html(final)
    assert "<img" not in panel and "&lt;img src=x onerror=alert(1)&gt;" in panel
    assert "<img" not in history[-1]["content"]


def test_markdown_escaping_keeps_citation_links():
    record = Record("r", "title", "T", pmid="5")
    answer = Answer("q", "A *bold* <b>claim</b> [1].", (Citation(1, record, "A claim"),))
    md = answer_markdown(answer.text, answer.citations)
    assert "\\*bold\\*" in md and "&lt;b&gt;" in md
    assert '<a href="#source-1" class="cqa-cite"' in md
    assert escape_markdown("[x](javascript:alert(1))").startswith("\\[x\\]\\(")
    assert "source-1" in sources_html(answer)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_app_builds_and_serves_on_loopback(answerer):
    app = build_app(answerer)
    port = free_port()
    app.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30).read().decode()
        assert "Checkpoint QA" in page
    finally:
        app.close()
    assert len(EXAMPLES) >= 3


def test_quote_is_highlighted_in_its_passage():
    from assistant.render import source_card
    record = Record("r", "abstract", "Title", text="Before the claim. PD-1 blockade <fails> here. After it.",
                    pmid="7")
    card = source_card(1, record, "PD-1 blockade <fails> here.")
    assert "<mark>PD-1 blockade &lt;fails&gt; here.</mark>" in card and "Before the claim." in card


def test_knowledge_base_panel_says_what_rests_on_titles_and_offers_pubmed_only_online(answerer):
    from assistant.ui import corpus_markdown
    kb = answerer.retriever.kb
    titles = sum(1 for r in kb.records if not r.text)
    assert titles > 0
    offline = corpus_markdown(kb, online=False)
    assert f"{titles} papers are known by their title only" in offline and "answers rest on titles" in offline
    assert "cannot reach PubMed" in offline and "checkpoint-qa fetch --hydrate" in offline
    assert "Fetch their abstracts from PubMed below" in corpus_markdown(kb, online=True)
    for online in (False, True):
        app = build_app(answerer, online=online)
        [button] = [b for b in app.blocks.values() if getattr(b, "elem_id", None) == "cqa-hydrate"]
        assert button.visible is online


def test_full_text_source_card_shows_section_and_page():
    record = Record("doi:10.9999/x", "full_text", "T", text="Intro here. Depleting cells restored response.",
                    doi="10.9999/x", extra={"parts": [{"start": 0, "end": 11, "section": "Introduction", "page": 1},
                                                      {"start": 12, "end": 46, "section": "Results", "page": 4}]})
    answer = Answer("q", "Depleting cells restored response [1].",
                    (Citation(1, record, "Depleting cells restored response.", "full_text"),))
    panel = sources_html(answer)
    assert "full-text sentence · Results, p. 4" in panel


def test_the_status_says_when_the_model_is_loading(answerer):
    class Cold:
        name = "local"
        loaded = False

        def generate(self, question, sources, query_vector=None):
            self.loaded = True
            yield "Loss of JAK1 or JAK2 abolishes interferon gamma signalling in tumour cells [1]."

    cold = Answerer(answerer.retriever, answerer.settings, engine=Cold())
    statuses = [status for _, status, _ in respond(cold, "Do JAK1 or JAK2 mutations cause resistance?", [])]
    assert "Loading the language model (first time only" in statuses[0]
    assert any("Writing" in s for s in statuses) and "Answered in" in statuses[-1]
