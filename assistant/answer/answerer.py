"""The answer pipeline shared by every engine and front end.

question -> standalone query (follow-ups rewritten) -> hybrid retrieval -> refusal gate -> engine streams text that
cites numbered sources -> citation verification -> ``Answer``. The gate compares the best dense (cosine) score
of the retrieved papers with ``min_score`` and refuses before any generation; ``benchmarks/refusal_threshold.py``
shows how the default was chosen from the on- and off-topic question sets in ``tests/data``.
"""

from __future__ import annotations

from typing import Iterator, Sequence

from ..config import Settings, load_settings
from ..encoders import Encoder
from ..errors import ModelError
from ..retriever import Filters, Retriever, check_query
from ..types import Answer, Hit
from .extractive import ExtractiveEngine
from .followup import is_follow_up, rewrite
from .prompts import CANNOT_ANSWER
from .verify import Verifier

REFUSAL = ("I can't answer that from the knowledge base: none of its sources is close enough to the question "
           "(best match {best:.2f}, threshold {threshold:.2f}). Ask about resistance to immune checkpoint "
           "inhibitors, or add your own literature with `checkpoint-qa ingest`.")
UNVERIFIED = ("I can't give a checked answer: the {engine} engine's sentences could not be matched to the sources "
              "they cite. The closest sources are listed below.")
NO_ANSWER = "The sources found do not answer this question. The closest sources are listed below."

_engines: dict[tuple, object] = {}


def make_engine(settings: Settings, encoder: Encoder):
    """The configured engine; language-model engines are kept per process so a model loads once."""
    if settings.engine == "extractive":
        return ExtractiveEngine(encoder, settings.min_score, settings.max_citations)
    key = (settings.engine, settings.llm, settings.openai_base_url)
    if key not in _engines:
        if settings.engine == "local":
            from .local import LocalEngine
            _engines[key] = LocalEngine(settings.llm)
        else:
            from .openai_compat import OpenAIEngine
            _engines[key] = OpenAIEngine(settings.openai_base_url or "", settings.llm or "")
    return _engines[key]


class Answerer:
    """``Answerer(retriever).answer("Does the microbiome matter?")``; ``stream`` yields the text as it grows."""

    def __init__(self, retriever: Retriever, settings: Settings | None = None, engine=None):
        self.retriever = retriever
        self.settings = settings or load_settings()
        self.engine = engine or make_engine(self.settings, retriever.encoder)
        self.verifier = Verifier(retriever.encoder)

    def answer(self, question: str, history: Sequence[str] = (), filters: Filters | None = None) -> Answer:
        final = None
        for _, final in self.stream(question, history, filters):
            pass
        return final

    def standalone(self, question: str, history: Sequence[str]) -> str:
        if not history or not is_follow_up(question):
            return question
        rewriter = getattr(self.engine, "rewrite", None)
        if rewriter is not None:
            conversation = "\n".join(f"User: {q}" for q in list(history)[-3:] + [question])
            try:
                rewritten = rewriter(conversation)
            except ModelError:
                rewritten = ""
            if rewritten and len(rewritten) < 400:
                return rewritten
        return rewrite(question, history)

    def stream(self, question: str, history: Sequence[str] = (), filters: Filters | None = None) \
            -> Iterator[tuple[str, Answer | None]]:
        """Yield ``(text so far, None)`` while the engine writes, then ``(final text, Answer)``."""
        question = check_query(question)
        query = check_query(self.standalone(question, history))
        vector = self.retriever.embed_query(query)
        hits = self.retriever.search(query, self.settings.k, filters, vector=vector)
        best = max((h.dense_score for h in hits if h.dense_score is not None), default=0.0)
        threshold = self.settings.min_score
        name = self.engine.name
        if best < threshold:
            text = REFUSAL.format(best=best, threshold=threshold)
            yield text, Answer(question, text, (), True, f"best match {best:.2f} below {threshold:.2f}",
                               tuple(hits), name, query)
            return
        sources = self._sources(hits)
        raw = ""
        for piece in self.engine.generate(query, sources, vector):
            raw += piece
            yield raw, None
        if raw.strip().startswith(CANNOT_ANSWER[:20]) or not raw.strip():
            yield NO_ANSWER, Answer(question, NO_ANSWER, (), True, "the engine found no answer in the sources",
                                    tuple(hits), name, query)
            return
        verified = self.verifier.verify(raw, sources, attribute=name != "extractive")
        if not verified.citations:
            text = UNVERIFIED.format(engine=name)
            yield text, Answer(question, text, (), True, "no citation could be verified", tuple(hits), name, query,
                               verified.checks)
            return
        yield verified.text, Answer(question, verified.text, verified.citations, False, "", tuple(hits), name,
                                    query, verified.checks)

    def _sources(self, hits: Sequence[Hit]) -> list[Hit]:
        if self.engine.name == "extractive":
            return list(hits)
        relevant = [h for h in hits if h.dense_score is not None and h.dense_score >= self.settings.min_score]
        return relevant[:self.settings.max_sources]


def compose_answer(question: str, retriever: Retriever, settings: Settings | None = None) -> Answer:
    return Answerer(retriever, settings).answer(question)
