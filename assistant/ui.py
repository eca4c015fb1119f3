"""The Gradio web chat, a leaf adapter over the library.

``build_app(answerer)`` returns the Blocks without launching anything, and ``respond`` is a plain generator that
tests drive directly. Gradio is imported inside functions, with an install hint, so the library never needs it.
The page binds 127.0.0.1 by default, never uses ``share``, turns analytics off and uses system fonts, so it makes
no outside request.
"""

from __future__ import annotations

import os
from typing import Iterator

from .answer import Answerer
from .config import Settings
from .errors import AssistantError, ModelError
from .render import answer_markdown, corpus_summary, sources_html

EXAMPLES = [
    "Does the gut microbiome affect response to anti-PD-1 therapy?",
    "How do JAK1/2 mutations cause resistance to PD-1 blockade?",
    "What is the role of PTEN loss in resistance to checkpoint inhibitors?",
    "Which alternative immune checkpoints are upregulated after PD-1 blockade?",
    "Is hyperprogressive disease a real phenomenon of immunotherapy?",
]

CSS = """
.cqa-card {border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px; margin-bottom: 10px;}
.cqa-n {font-weight: 700; color: var(--color-accent);}
.cqa-title {font-weight: 600;}
.cqa-meta {font-size: 0.85em; opacity: 0.8; margin: 4px 0;}
.cqa-kind, .cqa-score {font-size: 0.8em; border: 1px solid var(--border-color-primary); border-radius: 4px;
  padding: 0 4px; margin-left: 4px;}
.cqa-quote {margin: 6px 0; padding: 4px 8px; border-left: 3px solid var(--color-accent);
  background: var(--background-fill-secondary); font-style: italic;}
.cqa-links a {margin-right: 8px;}
.cqa-empty {opacity: 0.7; font-style: italic;}
"""


def respond(answerer: Answerer, message: str, history: list | None) -> Iterator[tuple[list, str]]:
    """Stream one exchange: yields the chat history (messages format) and the sources panel's HTML."""
    history = list(history or [])
    message = (message or "").strip()
    if not message:
        yield history, sources_html(None)
        return
    asked = [m["content"] for m in history if m.get("role") == "user" and isinstance(m.get("content"), str)]
    history.append({"role": "user", "content": message})
    try:
        for text, final in answerer.stream(message, asked):
            shown = answer_markdown(text, final.citations if final else ())
            if final is None:
                yield history + [{"role": "assistant", "content": shown}], sources_html(None)
            else:
                yield history + [{"role": "assistant", "content": shown}], sources_html(final)
    except AssistantError as exc:
        yield history + [{"role": "assistant", "content": f"Error: {exc}"}], sources_html(None)


def _gradio():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio as gr
    except ImportError:
        raise ModelError("the web chat needs gradio; install it with: pip install gradio") from None
    return gr


def build_app(answerer: Answerer):
    """Build the chat page (``gr.Blocks``) for ``answerer``; launching is separate."""
    gr = _gradio()
    kb = answerer.retriever.kb
    with gr.Blocks(title="Checkpoint QA", analytics_enabled=False) as app:
        gr.Markdown(
            "## Checkpoint QA\nCited answers about resistance to immune checkpoint inhibitors, from the literature "
            f"in your knowledge base. Every sentence quotes a source. \n*Knowledge base: {corpus_summary(kb.records)};"
            f" model {kb.model}.*")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Answer", height=520, elem_id="cqa-chat", buttons=["copy"],
                                     feedback_options=None, placeholder="Ask about checkpoint-inhibitor resistance.")
                with gr.Row():
                    box = gr.Textbox(placeholder="e.g. Does the gut microbiome affect response to anti-PD-1?",
                                     show_label=False, scale=5, elem_id="cqa-question", max_length=2000)
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="cqa-ask")
                gr.Examples(EXAMPLES, inputs=box, label="Example questions")
                clear = gr.Button("New conversation", size="sm")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(sources_html(None), elem_id="cqa-sources")

        def handler(message, history):
            for chat, panel in respond(answerer, message, history):
                yield chat, panel, ""

        for trigger in (box.submit, send.click):
            trigger(handler, [box, chatbot], [chatbot, sources, box])
        clear.click(lambda: ([], sources_html(None), ""), None, [chatbot, sources, box])
    return app


def launch(settings: Settings) -> None:
    from .retriever import Retriever
    gr = _gradio()
    answerer = Answerer(Retriever.load(settings=settings), settings)
    answerer.retriever.embed_query("warm up")  # load the model before the first question
    app = build_app(answerer)
    theme = gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    print(f"Checkpoint QA: http://{settings.host}:{settings.port}", flush=True)
    app.queue().launch(server_name=settings.host, server_port=settings.port, share=False, theme=theme, css=CSS,
                       show_error=False, quiet=True)
