"""The Gradio web chat, a leaf adapter over the library.

``build_app(answerer)`` returns the Blocks without launching anything, and ``respond`` is a plain generator that
tests drive directly. Gradio is imported inside functions, with an install hint, so the library never needs it.
The page binds 127.0.0.1 by default, never uses ``share``, turns analytics off and uses system fonts, so it makes
no outside request; every piece of document text is escaped before it is rendered (``render``).

One question runs at a time per page: asking while an answer is being written is refused with a message (the new
question stays in the box), and Stop cancels the running answer at once (the engine's stream is closed as well, so
a language model stops generating). Conversations are kept in the browser (``conversations``), never on the server.
"""

from __future__ import annotations

import html
import logging
import os
import re
import secrets
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterator, Sequence

from . import conversations
from .answer import Answerer
from .config import Settings, data_home
from .errors import AssistantError, ConfigError, ModelError
from .limits import UI_MIN_SCORE
from .render import (answer_markdown, conversation_sources, escape_markdown, final_markdown, plain_answer,
                     sources_html)
from .retriever import Filters
from .kb.store import KnowledgeBase, describe
from .types import Answer
from .ui_assets import CSS, HEAD, OFFLINE_BANNER

log = logging.getLogger(__name__)

EXAMPLES = [
    "Does the gut microbiome affect response to anti-PD-1 therapy?",
    "How do JAK1/2 mutations cause resistance to PD-1 blockade?",
    "What is the role of PTEN loss in resistance to checkpoint inhibitors?",
    "Which alternative immune checkpoints are upregulated after PD-1 blockade?",
    "Is hyperprogressive disease a real phenomenon of immunotherapy?",
]
RECORD_TYPES = [("full text", "full_text"), ("abstract", "abstract"), ("title only", "title"),
                ("title from a reference list", "reference_title")]
BUSY = ("Still answering your previous question. Press Stop, or wait for it to finish: your new question stays "
        "in the box.")
STOPPED_DRAFT = "*Stopped: this draft was not checked against its sources.*"
STOPPED_EMPTY = "*Stopped before an answer was written.*"


class StopFlag:
    """Set by the Stop button, read by the running answer between pieces (one per page, in ``gr.State``)."""

    def __init__(self):
        self.stopped = False


def status_html(text: str, busy: bool = False) -> str:
    if not text:
        return ""
    return f'<div class="{"cqa-busy" if busy else "cqa-done"}">{html.escape(text)}</div>'


def for_web(text: str) -> str:
    """A library message in words for the page: no command-line flags or backticks it cannot act on."""
    text = re.sub(r"pass --format with one of ([\w\-, ]+)",
                  "give the file the extension of its format (.xml, .nxml, .pdf, .txt for MEDLINE, .ris, .bib, "
                  ".csv or .jsonl)", text)
    text = text.replace("add your own literature with `checkpoint-qa ingest`",
                        "add your own literature under Knowledge base, Add files")
    return text.replace("`", "")


def engine_failure(exc: Exception) -> str:
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return (f"The answer engine failed ({type(exc).__name__}{': ' + first if first else ''}). Nothing was "
            "answered: try again, or choose 'Quotes from the papers' under Filters and settings.")


def respond(answerer: Answerer, message: str, history: list | None, filters: Filters | None = None,
            previous: Answer | None = None, answer_no: int = 0, stop: StopFlag | None = None) \
        -> Iterator[tuple[list, str, object]]:
    """Stream one exchange: yields the chat (messages format, the question echoed first), a status line, and at
    the end the ``Answer`` (``None`` before, and after an error). ``previous`` lets a follow-up point at the last
    answer's sources; ``answer_no`` numbers this answer's source cards; ``stop`` ends the stream early."""
    history = conversations.plain_messages(history or [])
    message = (message or "").strip()
    if not message:
        yield history, "", None
        return
    asked = [unescape(m["content"]) for m in history if m["role"] == "user"]
    history.append({"role": "user", "content": escape_markdown(message)})
    engine = answerer.engine
    if not getattr(engine, "loaded", True):
        note = getattr(engine, "load_note", "first time only: about a minute")
        yield history, status_html(f"Loading the language model ({note})…", True), None
    else:
        yield history, status_html("Searching the knowledge base…", True), None
    started = time.perf_counter()
    stream = answerer.stream(message, asked, filters, previous)
    shown_text = None
    try:
        for text, final in stream:
            if stop is not None and stop.stopped:
                stream.close()
                shown = answer_markdown(text, (), answer_no) + "\n\n" + STOPPED_DRAFT if text else STOPPED_EMPTY
                yield history + [{"role": "assistant", "content": shown}], status_html("Stopped."), None
                return
            if final is None:
                if text != shown_text:  # engines may send empty pieces so that Stop is seen between tokens
                    shown_text = text
                    yield (history + [{"role": "assistant", "content": answer_markdown(text, (), answer_no)}],
                           status_html("Writing the answer…", True), None)
                continue
            shown = final_markdown(replace(final, text=for_web(final.text)), answer_no)
            took = f"Answered in {time.perf_counter() - started:.1f} s."
            yield history + [{"role": "assistant", "content": shown}], status_html(took), final
    except AssistantError as exc:
        yield (history + [{"role": "assistant", "content": escape_markdown(for_web(str(exc)))}],
               status_html("Could not answer."), None)
    except Exception as exc:  # an engine's own failure (a server gone, a model that cannot load): one message
        log.exception("answer engine failed")
        yield (history + [{"role": "assistant", "content": escape_markdown(engine_failure(exc))}],
               status_html("The answer engine failed."), None)


def engine_choices(settings: Settings, options=None) -> list[tuple[str, str]]:
    """The engines that can run here, named for people; the others are explained by ``engines_unavailable``."""
    from .answer.engines import engine_options
    options = engine_options(settings) if options is None else options
    return [(o.label, o.value) for o in options if o.ready and not o.advanced]


def engines_unavailable(settings: Settings, options=None) -> str:
    from .answer.engines import engine_options
    options = engine_options(settings) if options is None else options
    why = [f"{o.label}: {o.reason}" for o in options if not o.ready and not o.advanced]
    return "Not available here: " + "; ".join(why) if why else ""


def read_filters(year_min: str | None, year_max: str | None, kinds, publication_types: str | None) -> Filters:
    """The filter panel's values as ``Filters``; a year box that holds something other than a year is an error."""
    years = []
    for label, value in (("From year", year_min), ("To year", year_max)):
        value = str(value or "").strip()
        if value and not (value.isdigit() and 1800 <= int(value) <= 2200):
            raise AssistantError(f"{label} must be a year such as 2015, not {value[:10]!r}")
        years.append(int(value) if value else None)
    return Filters(years[0], years[1], tuple(kinds or ()),
                   tuple(p.strip() for p in (publication_types or "").split(",") if p.strip()))


def corpus_markdown(kb: KnowledgeBase, online: bool = False) -> str:
    facts = describe(kb)
    kinds = ", ".join(f"{n} {t.replace('_', ' ')}" for t, n in facts["types"].items())
    years = facts["years"]
    span = f"{years['min']}–{years['max']}" if years["min"] else "unknown"
    text = (f"**{facts['records']} papers** ({kinds}), {facts['passages']} passages; years {span}. "
            f"Model `{facts['model']}`; built {facts['built_at']}.")
    titles = sum(1 for r in kb.records if not r.text)
    if titles:
        text += (f"\n\n**{titles} papers are known by their title only.** Answers list them as related papers but "
                 "cannot quote what they found: for them, answers rest on titles. " +
                 ("Fetch their abstracts from PubMed below." if online else
                  "This machine cannot reach PubMed now; when it can, run `checkpoint-qa fetch --hydrate` (or use "
                  "the button that appears here) to add their abstracts."))
    return text


class ChatBackend:
    """What the page needs besides Gradio: one answerer per engine and settings, and reloading after ingest."""

    def __init__(self, answerer: Answerer):
        self.base = answerer
        self.retriever = answerer.retriever
        self._answerers: dict[tuple, Answerer] = {}

    def answerer(self, engine: str, k: int, min_score: float) -> Answerer:
        key = (engine, int(k), float(min_score))
        if key not in self._answerers:
            settings = replace(self.base.settings, engine=engine, k=int(k), min_score=float(min_score))
            same = engine == self.base.settings.engine  # keep the page's own engine (and its loaded model)
            self._answerers[key] = Answerer(self.retriever, settings, engine=self.base.engine if same else None)
        return self._answerers[key]

    def hydrate(self) -> str:
        from .encoders import get_encoder
        from .fetch import EUtilsClient
        from .hydrate import hydrate
        retriever = self.retriever
        encoder = get_encoder(retriever.kb.model, retriever.settings.precision, retriever.settings.document_encoder)
        report = hydrate(retriever.kb.path.parent, EUtilsClient(retriever.settings.eutils_url), progress=True,
                         encoder=encoder)
        if report.build is not None:
            self.retriever.kb = KnowledgeBase.load(self.retriever.kb.path.parent)
        lines = [escape_markdown(report.summary())]
        lines += [f"- not found: {escape_markdown(line)}" for line in report.not_found[:30]]
        return "\n".join(lines)

    def _encoder(self):
        from .encoders import get_encoder
        retriever = self.retriever  # documents go through the build encoder, not the query encoder
        return get_encoder(retriever.kb.model, retriever.settings.precision, retriever.settings.document_encoder)

    def _reload(self, report) -> None:
        if report.build is not None:
            self.retriever.kb = KnowledgeBase.load(self.retriever.kb.path.parent)

    def ingest(self, paths: list[str]) -> tuple[str, list[dict]]:
        """Ingest uploaded files; returns the report in plain words and, per file that added papers, its name and
        the ids it added (what "Remove" takes away again)."""
        from .ingest import ingest
        report = ingest(paths, index=self.retriever.kb.path.parent, encoder=self._encoder(), progress=True)
        self._reload(report)
        lines = [f"- {escape_markdown(file_in_words(file))}" for file in report.files[:50]]
        lines += [f"- could not read {escape_markdown(for_web(str(item)))}" for item in report.rejected[:20]]
        lines += [f"- {label}: {escape_markdown(line)}" for label, found in
                  (("updated with new details", report.changes), ("kept apart, possibly the same paper as another",
                   report.duplicates), ("text cut to the size limit", report.truncated)) for line in found[:20]]
        if report.build is None:
            lines.append("- nothing new: the knowledge base is unchanged")
        added = [{"name": f.name, "ids": list(f.added_ids)} for f in report.files if f.added_ids]
        return "\n".join(lines), added

    def remove(self, ids: Sequence[str]) -> str:
        from .ingest import remove
        report = remove(list(ids), index=self.retriever.kb.path.parent, encoder=self._encoder())
        self._reload(report)
        words = f"Removed {report.removed} paper{'s' * (report.removed != 1)} from the knowledge base."
        missing = [r.where for r in report.rejected]
        if missing:
            words += " Not in the knowledge base: " + ", ".join(missing[:10]) + "."
        return escape_markdown(words)


def file_in_words(file) -> str:
    """What one uploaded file did, for people: "trial.xml: 3 papers added, 2 already in the knowledge base"."""
    def papers(n: int) -> str:
        return f"{n} paper{'s' * (n != 1)}"
    bits = [f"{papers(file.added)} added" if file.added else "",
            f"{papers(file.updated)} updated with new details" if file.updated else "",
            f"{papers(file.unchanged)} already in the knowledge base" if file.unchanged else "",
            f"{papers(file.removed)} removed (deleted by PubMed)" if file.removed else "",
            f"{file.rejected} item{'s' * (file.rejected != 1)} could not be read" if file.rejected else ""]
    return f"{file.name}: " + (", ".join(b for b in bits if b) or "no papers found in it")


def _gradio():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio as gr
    except ImportError:
        raise ModelError("the web chat needs gradio; install it with: pip install gradio") from None
    return gr


def browser_secret() -> str:
    """The key that encrypts conversations kept in the browser, stored once in the data folder (readable by the
    user only) so saved conversations survive a restart of the chat."""
    path = data_home() / "browser-secret"
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        pass
    secret = secrets.token_urlsafe(24)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".browser-secret-{os.getpid()}")
        staging.write_text(secret, encoding="utf-8")
        staging.chmod(0o600)
        os.replace(staging, path)
    except OSError:  # a read-only home: conversations then last until the chat restarts
        pass
    return secret


def launch_options(gr) -> dict:
    """What ``launch`` needs for the page to look and behave as designed (tests launch with the same)."""
    theme = gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]).set(
        block_label_text_color="*primary_800", block_title_text_color="*primary_800",  # WCAG AA on their fills
        button_primary_background_fill="*primary_700", button_primary_background_fill_hover="*primary_800",
        input_placeholder_color="#57606a", input_placeholder_color_dark="#c9d1d9", link_text_color="#1d4ed8",
        link_text_color_dark="#93c5fd", link_text_color_visited="#1d4ed8", link_text_color_visited_dark="#93c5fd",
        link_text_color_hover="#1e40af", link_text_color_hover_dark="#bfdbfe")
    return {"theme": theme, "css": CSS, "head": HEAD, "footer_links": [], "show_error": True}


def build_app(answerer: Answerer, online: bool | None = None):
    """Build the chat page (``gr.Blocks``) for ``answerer``; launching is separate. ``online`` (checked when not
    given) decides whether PubMed actions are offered."""
    gr = _gradio()
    if online is None:
        from .fetch import reachable
        online = reachable(answerer.settings.eutils_url)
    backend = ChatBackend(answerer)
    settings = answerer.settings
    with gr.Blocks(title="Checkpoint QA", analytics_enabled=False) as app:
        gr.HTML(OFFLINE_BANNER)
        gr.Markdown("# Checkpoint QA\nCited answers about resistance to immune checkpoint inhibitors, from the "
                    "literature in your knowledge base. Every finding quotes a sentence of an abstract or full text, "
                    "checked against its source; click a number such as [1] to see the source and the quoted "
                    "sentence.", elem_id="cqa-title")
        answers = gr.State([])  # one Answer (or None) per finished exchange of this conversation
        conversation_id = gr.State(conversations.new_id)
        busy = gr.State(False)
        stop_flag = gr.State(StopFlag)
        pending = gr.State("")
        saved = gr.BrowserState([], storage_key="checkpoint-qa-conversations", secret=browser_secret())
        uploaded = gr.State([])  # files added from this page: name and the ids they added
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, elem_id="cqa-main"):
                with gr.Row():
                    new_chat = gr.Button("New conversation", size="sm", elem_id="cqa-new", scale=0)
                    history_menu = gr.Dropdown([], value=None, label="Past conversations (kept in this browser)",
                                               elem_id="cqa-history", scale=3, interactive=True)
                chatbot = gr.Chatbot(label="Conversation", show_label=False, height=480, elem_id="cqa-chat",
                                     buttons=[], feedback_options=None, editable="user",
                                     placeholder="Ask about checkpoint-inhibitor resistance. Answers quote the "
                                                 "papers; numbers like [1] lead to their sources.")
                status = gr.HTML("", elem_id="cqa-status", padding=False)
                with gr.Row(elem_id="cqa-filter-row"):
                    active_filters = gr.HTML("", elem_id="cqa-active-filters", padding=False)
                    clear_filters = gr.Button("Clear filters", size="sm", visible=False, elem_id="cqa-clear-filters",
                                              scale=0)
                with gr.Row():
                    box = gr.Textbox(label="Your question", show_label=False, scale=5, elem_id="cqa-question",
                                     placeholder="e.g. Does the gut microbiome affect response to anti-PD-1?",
                                     max_length=2000, lines=1)
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="cqa-ask")
                    stop = gr.Button("Stop", variant="stop", scale=1, visible=False, elem_id="cqa-stop")
                with gr.Column(elem_id="cqa-examples") as examples:
                    gr.Markdown("Example questions (click to ask):")
                    example_buttons = [gr.Button(q, size="sm") for q in EXAMPLES]
            with gr.Column(scale=2, elem_id="cqa-side"):
                gr.Markdown("## Sources")
                sources = gr.HTML(sources_html(None), elem_id="cqa-sources", padding=False)
                with gr.Row():
                    copy_button = gr.Button("Copy last answer with references", size="sm", elem_id="cqa-copy")
                    export_button = gr.Button("Export references", size="sm", elem_id="cqa-export")
                with gr.Row():
                    export_format = gr.Dropdown([("BibTeX", "bibtex"), ("RIS", "ris"), ("Markdown", "markdown")],
                                                value="bibtex", label="Export format", elem_id="cqa-export-format")
                    export_scope = gr.Dropdown([("whole conversation", "conversation"), ("last answer", "last")],
                                               value="conversation", label="References of", elem_id="cqa-export-scope")
                export_file = gr.File(label="Cited references", visible=False, elem_id="cqa-export-file")
                copy_text = gr.Textbox(visible=False, elem_id="cqa-copy-text")
                with gr.Accordion("Filters and settings", open=False):
                    with gr.Row():
                        year_min = gr.Textbox(label="From year", placeholder="any", max_length=4,
                                              elem_id="cqa-year-min")
                        year_max = gr.Textbox(label="To year", placeholder="any", max_length=4,
                                              elem_id="cqa-year-max")
                    types = gr.CheckboxGroup(RECORD_TYPES, label="What the paper's record holds (none ticked = all)",
                                             elem_id="cqa-types")
                    publication_types = gr.Textbox(label="Publication types, comma separated (e.g. Review)",
                                                   elem_id="cqa-pubtypes")
                    from .answer.engines import engine_options
                    options = engine_options(settings)  # servers probed once for both the menu and the reasons
                    choices = engine_choices(settings, options)
                    engine = gr.Dropdown(choices, value=settings.engine if settings.engine in {v for _, v in choices}
                                         else "extractive", label="Who writes the answer",
                                         info=engines_unavailable(settings, options) or None, elem_id="cqa-engine")
                    engine_note = "Engines are looked for when the page opens (an Ollama server started later "
                    gr.Markdown(engine_note + "appears after a reload).", elem_id="cqa-engine-note")
                    k = gr.Slider(1, 20, value=settings.k, step=1, label="Papers searched per question",
                                  info="More papers can add findings and related papers; every one is listed.")
                    min_score = gr.Slider(UI_MIN_SCORE, 0.9, value=max(settings.min_score, UI_MIN_SCORE), step=0.05,
                                          label="How close a paper must be before the assistant answers",
                                          info="Higher refuses more often; below 0.2 off-topic questions would get "
                                               "answers, so it stops there.")
                with gr.Accordion("Knowledge base", open=False):
                    corpus = gr.Markdown(corpus_markdown(backend.retriever.kb, online), elem_id="cqa-corpus")
                    hydrate_button = gr.Button("Fetch abstracts from PubMed for title-only papers",
                                               elem_id="cqa-hydrate", visible=online and any(
                                                   not r.text for r in backend.retriever.kb.records))
                    uploads = gr.File(label="Add files: PubMed XML (.xml, .xml.gz), full-text JATS (.nxml) or PDF, "
                                            "MEDLINE, RIS, BibTeX, CSV or JSONL",
                                      file_count="multiple", type="filepath", elem_id="cqa-upload")
                    ingest_button = gr.Button("Add these files to the knowledge base", elem_id="cqa-ingest")
                    ingest_report = gr.Markdown(elem_id="cqa-ingest-report")
                    added_menu = gr.Dropdown([], value=None, label="Files added from this page",
                                             elem_id="cqa-added", interactive=True)
                    undo_button = gr.Button("Remove that file's papers", size="sm", elem_id="cqa-undo")
                    remove_ids = gr.Textbox(label="Remove papers by PMID, DOI or record id (comma separated)",
                                            elem_id="cqa-remove-ids")
                    remove_button = gr.Button("Remove these papers", size="sm", elem_id="cqa-remove")

        filter_inputs = [year_min, year_max, types, publication_types]

        def begin(message, chat, is_busy, flag):
            """Echo the question at once and show Stop; refuse (visibly) while another answer is running."""
            if is_busy:
                raise gr.Error(BUSY, title="One question at a time")
            message = (message or "").strip()
            if not message:
                raise gr.Error("Type a question first.", title="No question")
            flag.stopped = False
            chat = conversations.plain_messages(chat) + [{"role": "user", "content": escape_markdown(message)}]
            return (chat, message, status_html("Searching the knowledge base…", True), True,
                    gr.Button(visible=False), gr.Button(visible=True), gr.Column(visible=False))

        begin_outputs = [chatbot, pending, status, busy, send, stop, examples]  # not the box: a refusal keeps it

        def answer_it(message, chat, done, y_min, y_max, kinds, pub_types, engine_name, k_value, threshold, flag):
            chat = conversations.plain_messages(chat)
            history = chat[:-1] if chat and chat[-1]["role"] == "user" else chat
            try:
                filters = read_filters(y_min, y_max, kinds, pub_types)
                chosen = backend.answerer(engine_name, k_value, threshold)
            except (AssistantError, ConfigError) as exc:
                note = {"role": "assistant", "content": escape_markdown(for_web(str(exc)))}
                yield history + [chat[-1], note], status_html("Could not answer."), gr.skip(), done + [None]
                return
            previous = next((a for a in reversed(done) if a is not None), None)
            final = None
            for shown, line, final in respond(chosen, message, history, filters, previous, len(done) + 1, flag):
                if final is None:
                    yield shown, line, gr.skip(), gr.skip()
            finished = done + [final]
            yield shown, line, conversation_sources(finished), finished

        answer_inputs = [pending, chatbot, answers, *filter_inputs, engine, k, min_score, stop_flag]
        answer_outputs = [chatbot, status, sources, answers]

        def finish(chat, done, conv, stored):
            kept = conversations.save(stored, conv, chat, done)
            last = next((a for a in reversed(done) if a is not None), None)
            return (kept, gr.Dropdown(choices=conversations.choices(kept), value=None), False,
                    gr.Button(visible=True), gr.Button(visible=False), plain_answer(last) if last else "")

        finish_inputs = [chatbot, answers, conversation_id, saved]
        finish_outputs = [saved, history_menu, busy, send, stop, copy_text]
        running = []

        def wire(event):
            answering = event.success(lambda: "", None, [box], queue=False).then(answer_it, answer_inputs,
                                                                                 answer_outputs)
            running.append(answering)
            answering.then(finish, finish_inputs, finish_outputs)

        for trigger in (box.submit, send.click):
            wire(trigger(begin, [box, chatbot, busy, stop_flag], begin_outputs))
        for button, question in zip(example_buttons, EXAMPLES):
            wire(button.click(lambda c, b, f, q=question: begin(q, c, b, f), [chatbot, busy, stop_flag],
                              begin_outputs))

        def cut_at(chat, done, index):
            """The conversation before the user message at ``index`` (its exchange and everything after go)."""
            chat = conversations.plain_messages(chat)
            users = [i for i, m in enumerate(chat) if m["role"] == "user" and i <= index]
            if not users:
                raise gr.Error("Nothing to redo.")
            at = users[-1]
            return chat[:at], done[:len(users) - 1]

        def edited(chat, done, is_busy, flag, data: gr.EditData):
            earlier, kept = cut_at(chat, done, data.index)
            return (*begin(data.value, earlier, is_busy, flag), kept,
                    conversation_sources(kept))

        def retried(chat, done, is_busy, flag, data: gr.RetryData):
            earlier, kept = cut_at(chat, done, data.index)
            question = conversations.plain_messages(chat)[len(earlier)]["content"]
            return (*begin(unescape(question), earlier, is_busy, flag), kept, conversation_sources(kept))

        edited.__annotations__["data"] = gr.EditData  # the page's module has no global ``gr`` to resolve names in
        retried.__annotations__["data"] = gr.RetryData
        redo_inputs = [chatbot, answers, busy, stop_flag]
        wire(chatbot.edit(edited, redo_inputs, begin_outputs + [answers, sources]))
        wire(chatbot.retry(retried, redo_inputs, begin_outputs + [answers, sources]))

        def stopped(chat, flag):
            flag.stopped = True
            chat = conversations.plain_messages(chat)
            if chat and chat[-1]["role"] == "assistant" and STOPPED_DRAFT not in chat[-1]["content"]:
                chat[-1]["content"] += "\n\n" + STOPPED_DRAFT
            elif chat and chat[-1]["role"] == "user":
                chat.append({"role": "assistant", "content": STOPPED_EMPTY})
            return chat, status_html("Stopped. Ask again when you are ready."), False, gr.Button(visible=True), \
                gr.Button(visible=False)

        def no_answer_for_the_stopped_question(chat, done):
            """One entry per asked question, so answer numbers (and card ids) stay aligned after a Stop."""
            asked = len(conversations.questions_of(chat))
            return done + [None] * (asked - len(done)) if len(done) < asked else done

        stop.click(stopped, [chatbot, stop_flag], [chatbot, status, busy, send, stop], cancels=running,
                   queue=False).then(no_answer_for_the_stopped_question, [chatbot, answers], [answers])

        def show_filters(y_min, y_max, kinds, pub_types):
            try:
                described = read_filters(y_min, y_max, kinds, pub_types).describe()
            except AssistantError as exc:
                return f'<div class="cqa-filters cqa-warn" role="status">{html.escape(str(exc))}</div>', \
                    gr.Button(visible=True)
            if not described:
                return "", gr.Button(visible=False)
            return (f'<div class="cqa-filters" role="status">Filters on: {html.escape(described)}</div>',
                    gr.Button(visible=True))

        for control in filter_inputs:
            control.change(show_filters, filter_inputs, [active_filters, clear_filters])
        clear_filters.click(lambda: ("", "", [], ""), None, filter_inputs)

        def reset(is_busy):
            """One reset for everything a conversation leaves behind: messages, sources, answers, export, copy."""
            if is_busy:
                raise gr.Error(BUSY, title="One question at a time")
            return ([], sources_html(None), [], "", gr.File(value=None, visible=False), conversations.new_id(), "",
                    "", gr.Column(visible=True), gr.Dropdown(value=None))

        reset_outputs = [chatbot, sources, answers, box, export_file, conversation_id, copy_text, status, examples,
                         history_menu]
        new_chat.click(reset, [busy], reset_outputs)
        chatbot.clear(reset, [busy], reset_outputs)

        def open_saved(chosen, stored, is_busy):
            entry = conversations.find(stored, chosen or "")
            if entry is None:
                return [gr.skip()] * 8
            if is_busy:
                raise gr.Error(BUSY, title="One question at a time")
            done = [conversations.restore_answer(backend.retriever.kb, a) for a in entry.get("answers", [])]
            last = next((a for a in reversed(done) if a is not None), None)
            return (entry.get("messages", []), done, entry["id"], conversation_sources(done),
                    status_html(f"Opened your conversation of {entry.get('when', '')}."),
                    plain_answer(last) if last else "", gr.Column(visible=False),
                    gr.File(value=None, visible=False))

        history_menu.input(open_saved, [history_menu, saved, busy],
                           [chatbot, answers, conversation_id, sources, status, copy_text, examples, export_file])
        app.load(lambda stored: gr.Dropdown(choices=conversations.choices(stored), value=None), [saved],
                 [history_menu])

        def find_engines(current):
            """Look for engines again when the page opens (an Ollama server started after the chat)."""
            from .answer.engines import engine_options
            options = engine_options(settings)
            found = engine_choices(settings, options)
            value = current if current in {v for _, v in found} else "extractive"
            return gr.Dropdown(choices=found, value=value, info=engines_unavailable(settings, options) or None)

        app.load(find_engines, [engine], [engine])

        copy_button.click(None, [copy_text], None, js="""(text) => {
            const status = document.querySelector('#cqa-status');
            if (!text) { if (status) status.innerText = 'Nothing to copy yet: ask a question first.'; return []; }
            navigator.clipboard.writeText(text).then(
              () => { if (status) status.innerText = 'Copied the last answer with its numbered references.'; },
              () => { if (status) status.innerText = 'The browser refused to copy; select the answer instead.'; });
            return [];
        }""")

        def do_export(done, fmt, scope):
            from .export import FORMATS, export, unique_records
            finished = [a for a in done or [] if a is not None]
            chosen = finished[-1:] if scope == "last" else finished
            cited = unique_records(c for a in chosen for c in a.sources)
            if not cited:
                raise gr.Error("No references yet: none of this conversation's answers cites a paper.")
            folder = Path(tempfile.mkdtemp(prefix="cqa-export-"))
            path = folder / f"checkpoint-qa-references{FORMATS[fmt]}"
            text = "\n\n".join(a.text for a in chosen)
            path.write_text(export(cited, fmt, text), encoding="utf-8")
            return gr.File(value=str(path), visible=True)

        export_button.click(do_export, [answers, export_format, export_scope], [export_file])

        def added_choices(files: list[dict]):
            return gr.Dropdown(choices=[(f"{f['name']} ({len(f['ids'])} papers)", str(i))
                                        for i, f in enumerate(files) if f["ids"]], value=None)

        def do_ingest(paths, files, progress=gr.Progress(track_tqdm=True)):
            if not paths:
                return ("Choose one or more files first.", corpus_markdown(backend.retriever.kb, online), gr.skip(),
                        files, gr.skip())
            try:
                report, added = backend.ingest(list(paths))
            except AssistantError as exc:
                report, added = f"Could not add the files: {escape_markdown(for_web(str(exc)))}", []
            files = files + added
            return report, corpus_markdown(backend.retriever.kb, online), None, files, added_choices(files)

        ingest_button.click(do_ingest, [uploads, uploaded], [ingest_report, corpus, uploads, uploaded, added_menu])

        def do_undo(chosen, files):
            if chosen in (None, ""):
                raise gr.Error("Choose a file added from this page first.")
            files = list(files)
            entry = files[int(chosen)]
            report = backend.remove(entry["ids"])
            files[int(chosen)] = {"name": entry["name"], "ids": []}
            return (f"{escape_markdown(entry['name'])}: {report}", corpus_markdown(backend.retriever.kb, online),
                    files, added_choices(files))

        undo_button.click(do_undo, [added_menu, uploaded], [ingest_report, corpus, uploaded, added_menu])

        def do_remove(text):
            ids = [x.strip() for x in (text or "").split(",") if x.strip()]
            if not ids:
                raise gr.Error("Give one or more PMIDs, DOIs or record ids, separated by commas.")
            try:
                report = backend.remove(ids)
            except AssistantError as exc:
                report = escape_markdown(for_web(str(exc)))
            return report, corpus_markdown(backend.retriever.kb, online), ""

        remove_button.click(do_remove, [remove_ids], [ingest_report, corpus, remove_ids])

        def do_hydrate(progress=gr.Progress(track_tqdm=True)):
            try:
                report = backend.hydrate()
            except AssistantError as exc:
                report = f"Error: {escape_markdown(str(exc))}"
            return report, corpus_markdown(backend.retriever.kb, online)

        hydrate_button.click(do_hydrate, None, [ingest_report, corpus])
    return app


def unescape(text: str) -> str:
    """The question as typed, from its escaped chat message."""
    return html.unescape(re.sub(r"\\(.)", r"\1", text))


def launch(settings: Settings, auth_file: str | None = None, no_auth: bool = False) -> None:
    from .login import LoginGuard, check_exposure, read_users
    from .retriever import Retriever
    from .server import warm
    users = read_users(auth_file)  # before anything loads: a broken login is an error, not an open chat
    warning = check_exposure(settings.host, users is not None, no_auth)
    gr = _gradio()
    retriever = Retriever.load(settings=settings)
    answerer = Answerer(retriever, settings)
    warm(answerer)  # load the model and indexes before the first question
    retriever.follow()
    auth = LoginGuard(users) if users else None
    if warning:
        print(warning, file=sys.stderr, flush=True)
    app = build_app(answerer)
    print(f"Checkpoint QA: http://{settings.host}:{settings.port}", flush=True)
    app.queue().launch(server_name=settings.host, server_port=settings.port, share=False, quiet=True, auth=auth,
                       **launch_options(gr))
