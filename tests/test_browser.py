"""A real browser (Playwright driving Debian's Chromium) asks the chat a question and ingests a hostile title."""

import json
import re
import shutil
import socket
from pathlib import Path

import pytest

from assistant import Answerer, Retriever, load_settings
from assistant.pipeline import build_knowledge_base
from assistant.ui import build_app, launch_options
from conftest import FAKE, ROOT, SHIPPED

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
XSS = "<img src=x onerror=alert(1)>"

gr = pytest.importorskip("gradio")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chat_url(tmp_path):
    build_knowledge_base(corpus=SHIPPED, index=tmp_path / "kb", model=FAKE)
    answerer = Answerer(Retriever.load(tmp_path / "kb"), load_settings({"min_score": 0.3}))
    app = build_app(answerer)
    port = free_port()
    app.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                       **launch_options(gr))
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture
def page():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        dialogs = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.dialogs = dialogs
        yield page
        browser.close()


def ask(page, question: str) -> None:
    page.fill("#cqa-question textarea", question)
    page.click("#cqa-ask")
    page.wait_for_function("document.querySelectorAll('#cqa-sources .cqa-card').length > 0", timeout=60_000)
    page.wait_for_timeout(500)


def test_chat_answers_with_checkable_citations(chat_url, page):
    page.goto(chat_url)
    ask(page, "Does the gut microbiome affect response to anti-PD-1 therapy?")
    links = page.eval_on_selector_all("#cqa-chat a", "els => els.map(e => e.getAttribute('href'))")
    assert links and all(link.startswith("#source-1-") for link in links), links  # each leads to its card
    outside = page.eval_on_selector_all("#cqa-sources .cqa-links a", "els => els.map(e => e.href)")
    assert outside and all(link.startswith(("https://pubmed.ncbi.nlm.nih.gov/", "https://doi.org/"))
                           for link in outside)
    sources = page.inner_text("#cqa-sources")
    assert "[1]" in sources and "Gut microbiome" in sources
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)
    assert (ARTIFACTS / "chat.png").stat().st_size > 10_000


def test_hostile_title_renders_as_text(chat_url, page, tmp_path):
    record = {"id": "xss", "type": "abstract", "title": XSS, "pmid": "99999999",
              "text": "Zebrafish melanoma models resisted PD-1 blockade through interferon loss."}
    upload = tmp_path / "hostile.jsonl"
    upload.write_text(json.dumps(record) + "\n")
    page.goto(chat_url)
    page.get_by_text("Knowledge base", exact=True).click()
    page.set_input_files("#cqa-upload input[type=file]", str(upload))
    page.wait_for_timeout(1000)
    page.click("#cqa-ingest")
    page.wait_for_function("document.querySelector('#cqa-ingest-report').innerText.includes('hostile.jsonl: 1 "
                           "paper added')", timeout=60_000)
    assert page.locator("#cqa-upload .file-preview, #cqa-upload table").count() == 0  # the picker is emptied
    ask(page, "Do zebrafish melanoma models resist PD-1 blockade through interferon loss?")
    assert XSS in page.inner_text("#cqa-sources")
    assert page.locator("img[src='x']").count() == 0
    page.wait_for_timeout(500)
    assert page.dialogs == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "hostile-title.png"), full_page=True)
    page.click("#cqa-added input")  # undo: the file's papers leave the knowledge base again
    page.get_by_role("option", name=re.compile("hostile.jsonl")).click()
    page.click("#cqa-undo")
    page.wait_for_function("document.querySelector('#cqa-ingest-report').innerText.includes('Removed 1 paper')",
                           timeout=60_000)
    page.fill("#cqa-question textarea", "Do zebrafish melanoma models resist PD-1 blockade through interferon loss?")
    page.click("#cqa-ask")
    page.wait_for_function("document.querySelector('#cqa-status').innerText.includes('Answered')", timeout=60_000)
    page.wait_for_timeout(500)
    assert XSS not in page.inner_text("#cqa-sources")


LATEST_TITLES = "els => els.filter(e => !e.closest('details')).map(e => e.innerText)"


def test_export_covers_the_conversation_and_a_new_conversation_leaves_nothing(chat_url, page):
    import bibtexparser
    page.goto(chat_url)
    ask(page, "Does the gut microbiome affect response to anti-PD-1 therapy?")
    first = set(page.eval_on_selector_all("#cqa-sources .cqa-card .cqa-title", LATEST_TITLES))
    page.fill("#cqa-question textarea", "Do JAK1 mutations cause resistance to PD-1 blockade?")
    page.click("#cqa-ask")
    page.wait_for_function("document.querySelector('#cqa-chat').innerText.includes('JAK1 mutations cause')",
                           timeout=60_000)
    page.wait_for_function(f"!{json.dumps(sorted(first))}.includes(document.querySelector('#cqa-sources "
                           ".cqa-card .cqa-title').innerText)", timeout=60_000)
    page.wait_for_timeout(1500)
    second = set(page.eval_on_selector_all("#cqa-sources .cqa-card .cqa-title", LATEST_TITLES))
    page.click("#cqa-export")
    page.wait_for_selector("#cqa-export-file a", timeout=30_000)
    exported = page.request.get(page.get_attribute("#cqa-export-file a", "href")).text()
    library = bibtexparser.parse_string(exported)
    titles = {str(e.fields_dict["title"].value).strip("{}") for e in library.entries}
    assert not library.failed_blocks and titles >= first | second, (titles, first, second)
    page.click("text=New conversation")
    page.wait_for_function("document.querySelectorAll('#cqa-sources .cqa-card').length === 0", timeout=10_000)
    assert page.locator("#cqa-export-file a").count() == 0 or not page.locator("#cqa-export-file").is_visible()
    assert "JAK1" not in page.inner_text("#cqa-chat")


def test_an_inverted_year_range_says_so_instead_of_refusing(chat_url, page):
    page.goto(chat_url)
    page.get_by_text("Filters and settings", exact=True).click()
    page.fill("#cqa-year-min textarea, #cqa-year-min input", "2022")
    page.fill("#cqa-year-max textarea, #cqa-year-max input", "2015")
    page.keyboard.press("Tab")
    page.wait_for_function("document.querySelector('#cqa-active-filters').innerText.includes('years 2022–2015')",
                           timeout=10_000)
    page.fill("#cqa-question textarea", "Do JAK1 mutations cause resistance to PD-1 blockade?")
    page.click("#cqa-ask")
    page.wait_for_function("document.querySelector('#cqa-chat').innerText.includes('No papers match these filters')",
                           timeout=30_000)
    chat = page.inner_text("#cqa-chat")
    assert "year range runs backwards" in chat and "close enough" not in chat
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "filter-message.png"), full_page=True)
    page.click("#cqa-clear-filters")
    page.wait_for_function("document.querySelector('#cqa-active-filters').innerText.trim() === ''", timeout=10_000)


AXE = None


def axe_violations(page) -> list[dict]:
    """Serious and critical violations found by axe-core (shipped inside the axe-playwright-python package)."""
    import importlib.resources
    global AXE
    if AXE is None:
        AXE = (importlib.resources.files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")
    page.add_script_tag(content=AXE)
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                          ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))")
    return [v for v in found if v["impact"] in ("serious", "critical")]


def test_a_citation_leads_to_its_card_and_the_page_passes_axe(chat_url, page):
    pytest.importorskip("axe_playwright_python")
    page.goto(chat_url)
    page.wait_for_selector("#cqa-question textarea")
    page.wait_for_timeout(1000)
    assert page.locator("h1").count() == 1
    assert axe_violations(page) == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "empty-page.png"), full_page=True)
    ask(page, "Do immune checkpoint inhibitors work in solid tumors beyond melanoma?")
    links = page.locator("#cqa-chat a.cqa-cite")
    assert links.count() >= 1
    last = links.nth(links.count() - 1)
    n = last.inner_text().split("]")[0].lstrip("[")
    assert f"Source {n}: " in last.inner_text()  # named after its paper for screen readers
    target = last.get_attribute("href")[1:]
    last.click()
    page.wait_for_function(f"document.getElementById({json.dumps(target)}).classList.contains('cqa-focus')",
                           timeout=5_000)
    page.wait_for_timeout(700)
    box = page.eval_on_selector(f"#{target}", "e => { const r = e.getBoundingClientRect(); "
                                               "return [r.top, r.bottom, window.innerHeight]; }")
    assert 0 <= box[0] < box[2], box  # scrolled into view
    assert page.url.startswith(chat_url)  # no new tab, no navigation
    assert axe_violations(page) == []
    page.screenshot(path=str(ARTIFACTS / "answer-evidence.png"), full_page=False)


def test_on_a_phone_examples_fit_and_the_sources_follow_the_answer(chat_url):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        phone.goto(chat_url)
        phone.wait_for_selector("#cqa-examples button")
        cut = phone.eval_on_selector_all("#cqa-examples button", "els => els.filter(e => e.scrollWidth > "
                                                                 "e.clientWidth + 1).map(e => e.innerText)")
        assert cut == []  # example questions fit
        phone.locator("#cqa-examples button").first.click()  # an example asks when clicked
        phone.wait_for_function("document.querySelectorAll('#cqa-sources .cqa-card').length > 0", timeout=60_000)
        phone.wait_for_timeout(800)
        chat_top = phone.eval_on_selector("#cqa-chat", "e => e.getBoundingClientRect().top + window.scrollY")
        sources_top = phone.eval_on_selector("#cqa-sources", "e => e.getBoundingClientRect().top + window.scrollY")
        assert sources_top - chat_top < 844, (chat_top, sources_top)  # within one screen of the answer
        ARTIFACTS.mkdir(exist_ok=True)
        phone.screenshot(path=str(ARTIFACTS / "phone.png"), full_page=True)
        browser.close()


class SlowEngine:
    """The extractive engine's answer, streamed one word every quarter second (a slow language model)."""

    name = "extractive"

    def __init__(self, inner):
        self.inner = inner

    def generate(self, question, sources, query_vector=None, **options):
        import time
        for piece in self.inner.generate(question, sources, query_vector, **options):
            for word in piece.split(" "):
                time.sleep(0.25)
                yield word + " "


@pytest.fixture
def slow_chat_url(tmp_path):
    build_knowledge_base(corpus=SHIPPED, index=tmp_path / "kb", model=FAKE)
    retriever = Retriever.load(tmp_path / "kb")
    settings = load_settings({"min_score": 0.3})
    answerer = Answerer(retriever, settings)
    answerer = Answerer(retriever, settings, engine=SlowEngine(answerer.engine))
    app = build_app(answerer, online=False)
    port = free_port()
    app.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                       **launch_options(gr))
    yield f"http://127.0.0.1:{port}/"
    app.close()


SLOW_QUESTION = "Do immune checkpoint inhibitors work in solid tumors beyond melanoma?"


def test_stop_ends_a_slow_answer_within_a_second_and_a_second_question_is_refused_visibly(slow_chat_url, page):
    import time
    page.goto(slow_chat_url)
    page.fill("#cqa-question textarea", SLOW_QUESTION)
    page.click("#cqa-ask")
    page.wait_for_function("document.querySelector('#cqa-chat').innerText.includes('beyond melanoma')",
                           timeout=10_000)  # the question is echoed at once
    page.wait_for_function("document.querySelector('#cqa-status').innerText.includes('Writing')", timeout=30_000)
    assert page.is_visible("#cqa-stop") and not page.is_visible("#cqa-ask")
    page.fill("#cqa-question textarea", "Do JAK1 mutations cause resistance?")
    page.press("#cqa-question textarea", "Enter")
    page.wait_for_function("document.body.innerText.includes('Still answering your previous question')",
                           timeout=5_000)
    assert page.input_value("#cqa-question textarea") == "Do JAK1 mutations cause resistance?"
    started = time.perf_counter()
    page.click("#cqa-stop")
    page.wait_for_function("document.querySelector('#cqa-status').innerText.includes('Stopped')", timeout=5_000)
    page.wait_for_function("document.querySelector('#cqa-chat').innerText.includes('Stopped')", timeout=5_000)
    assert time.perf_counter() - started < 1.0
    page.wait_for_timeout(1500)  # the stopped stream writes nothing more
    assert "Stopped" in page.inner_text("#cqa-chat")
    page.click("#cqa-ask")  # the page takes the waiting question
    page.wait_for_function("document.querySelector('#cqa-status').innerText.includes('Answered')", timeout=60_000)
    assert "JAK1" in page.inner_text("#cqa-chat")


def test_a_reloaded_page_lists_and_reopens_the_previous_conversation(chat_url, page):
    page.goto(chat_url)
    ask(page, "How do JAK1/2 mutations cause resistance to PD-1 blockade?")
    page.wait_for_function("document.querySelector('#cqa-status').innerText.includes('Answered')", timeout=30_000)
    page.wait_for_timeout(1000)
    page.reload()
    page.wait_for_selector("#cqa-history")
    page.wait_for_timeout(1500)
    assert page.locator("#cqa-sources .cqa-card").count() == 0
    page.click("#cqa-history input")
    option = page.get_by_role("option", name=re.compile("How do JAK1"))
    option.click()
    page.wait_for_function("document.querySelectorAll('#cqa-sources .cqa-card').length > 0", timeout=10_000)
    assert "JAK1/2 mutations" in page.inner_text("#cqa-chat")
    link = page.locator("#cqa-chat a.cqa-cite").first
    target = link.get_attribute("href")[1:]
    link.click()
    page.wait_for_function(f"document.getElementById({json.dumps(target)}).classList.contains('cqa-focus')",
                           timeout=5_000)


def test_a_lost_server_shows_a_banner_and_retry_redoes_the_last_answer(tmp_path, page):
    build_knowledge_base(corpus=SHIPPED, index=tmp_path / "kb", model=FAKE)
    app = build_app(Answerer(Retriever.load(tmp_path / "kb"), load_settings({"min_score": 0.3})), online=False)
    port = free_port()
    app.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                       **launch_options(gr))
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        ask(page, SLOW_QUESTION)
        page.wait_for_function("document.querySelector('#cqa-status').innerText.includes('Answered')",
                               timeout=30_000)
        page.click("#cqa-chat button[aria-label='Retry']")
        page.wait_for_function("document.querySelector('#cqa-status').innerText.includes('Answered')",
                               timeout=30_000)
        page.wait_for_timeout(500)
        chat = page.inner_text("#cqa-chat")
        assert chat.count("beyond melanoma?") == 1 and "Bottom line" in chat  # one exchange, answered again
        assert page.is_hidden("#cqa-offline")
    finally:
        app.close()
    page.wait_for_selector("#cqa-offline", state="visible", timeout=15_000)
    assert "Lost the connection" in page.inner_text("#cqa-offline")
