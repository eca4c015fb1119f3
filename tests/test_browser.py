"""A real browser (Playwright driving Debian's Chromium) asks the chat a question and ingests a hostile title."""

import json
import shutil
import socket
from pathlib import Path

import pytest

from assistant import Answerer, Retriever, load_settings
from assistant.pipeline import build_knowledge_base
from assistant.ui import CSS, build_app
from conftest import FAKE, ROOT, SHIPPED

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
XSS = "<img src=x onerror=alert(1)>"

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
    app.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=CSS)
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
    links = page.eval_on_selector_all("#cqa-chat a", "els => els.map(e => e.href)")
    assert links, "the answer has no citation links"
    assert all(link.startswith(("https://pubmed.ncbi.nlm.nih.gov/", "https://doi.org/")) for link in links)
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
    page.wait_for_function("document.querySelector('#cqa-ingest-report').innerText.includes('added 1')",
                           timeout=60_000)
    ask(page, "Do zebrafish melanoma models resist PD-1 blockade through interferon loss?")
    assert XSS in page.inner_text("#cqa-sources")
    assert page.locator("img[src='x']").count() == 0
    page.wait_for_timeout(500)
    assert page.dialogs == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "hostile-title.png"), full_page=True)


def test_export_covers_the_conversation_and_a_new_conversation_leaves_nothing(chat_url, page):
    import bibtexparser
    page.goto(chat_url)
    ask(page, "Does the gut microbiome affect response to anti-PD-1 therapy?")
    first = set(page.eval_on_selector_all("#cqa-sources .cqa-card .cqa-title", "els => els.map(e => e.innerText)"))
    page.fill("#cqa-question textarea", "Do JAK1 mutations cause resistance to PD-1 blockade?")
    page.click("#cqa-ask")
    page.wait_for_function("document.querySelector('#cqa-chat').innerText.includes('JAK1 mutations cause')",
                           timeout=60_000)
    page.wait_for_function(f"!{json.dumps(sorted(first))}.includes(document.querySelector('#cqa-sources "
                           ".cqa-card .cqa-title').innerText)", timeout=60_000)
    page.wait_for_timeout(1500)
    second = set(page.eval_on_selector_all("#cqa-sources .cqa-card .cqa-title", "els => els.map(e => e.innerText)"))
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
