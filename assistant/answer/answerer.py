"""The answer pipeline shared by every engine and front end.

question -> standalone query (follow-ups rewritten) -> hybrid retrieval -> refusal gate -> engine streams text that
cites numbered sources -> verification (support and relevance) -> composition (bottom line, findings, related
papers, gaps) -> ``Answer``. The gate compares the best dense (cosine) score of the retrieved papers with
``min_score`` and refuses before any generation; ``benchmarks/refusal_threshold.py`` shows how the default was
chosen from the on- and off-topic question sets in ``tests/data``. Language models read only papers with an
abstract or full text: a title is not a finding, so title-only papers reach the answer as related papers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator, Sequence

from ..config import Settings, load_settings
from ..errors import ModelError
from ..retriever import Filters, Retriever, check_query
from ..types import Answer, Hit
from .compose import compose
from .extractive import ExtractiveEngine
from .followup import Pointer, is_follow_up, pointer, rewrite
from .prompts import CANNOT_ANSWER
from .relevance import Question
from .verify import Verified, Verifier

REFUSAL = ("I can't answer that from the knowledge base: none of its sources is close enough to the question "
           "(best match {best:.2f}, threshold {threshold:.2f}). Ask about resistance to immune checkpoint "
           "inhibitors, or add your own literature with `checkpoint-qa ingest`.")

NO_SUCH_SOURCE = "The previous answer lists sources 1 to {last}; there is no source {n}. Ask about one of those."
MORE_PER_PAPER = 3  # sentences a paper may give when a follow-up points at it ("tell me more about [2]")

NO_MATCH = "No papers match these filters ({filters}): {why}. Clear or widen the filters and ask again."

_engines: dict[tuple, object] = {}


def question_of(retriever: Retriever, text: str, vector) -> Question:
    """What relevance is measured against: the question's vector and its concepts weighted by idf."""
    concepts = retriever.query_concepts(text)
    return Question.of(text, vector, concepts, retriever.concept_weights(concepts))


def make_engine(settings: Settings, retriever: Retriever):
    """The configured engine; language-model engines are kept per process so a model loads once."""
    if settings.engine == "extractive":
        return ExtractiveEngine(retriever.encoder, settings.max_citations,
                                lambda text, vector: question_of(retriever, text, vector))
    key = (settings.engine, settings.llm, settings.openai_base_url)
    if key not in _engines:
        _engines[key] = _language_model(settings)
    return _engines[key]


def _language_model(settings: Settings):
    engine = settings.engine
    if engine in ("local", "llamacpp", "transformers"):
        from .gguf_engine import LlamaCppEngine, installed, is_gguf
        if engine == "llamacpp" or (engine == "local" and is_gguf(settings.llm) and installed()):
            made = LlamaCppEngine(settings.llm)
        else:
            from .local import LocalEngine
            made = LocalEngine(settings.llm)
        made.name = engine  # answers say which was asked for; ``backend`` says which runtime ran it
        return made
    from .openai_compat import OpenAIEngine
    if engine.startswith("ollama:"):
        from .engines import ollama_url
        return OpenAIEngine(ollama_url() + "/v1", engine.split(":", 1)[1], name=engine)
    if engine.startswith("openai:"):
        return OpenAIEngine(settings.openai_base_url or "", engine.split(":", 1)[1], name=engine)
    return OpenAIEngine(settings.openai_base_url or "", settings.llm or "")


class Answerer:
    """``Answerer(retriever).answer("Does the microbiome matter?")``; ``stream`` yields the text as it grows."""

    def __init__(self, retriever: Retriever, settings: Settings | None = None, engine=None):
        self.retriever = retriever
        self.settings = settings or load_settings()
        self.engine = engine or make_engine(self.settings, retriever)
        self.verifier = Verifier(retriever.encoder, retriever.synonyms)

    def answer(self, question: str, history: Sequence[str] = (), filters: Filters | None = None,
               previous: Answer | None = None) -> Answer:
        final = None
        for _, final in self.stream(question, history, filters, previous):
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

    def stream(self, question: str, history: Sequence[str] = (), filters: Filters | None = None,
               previous: Answer | None = None) -> Iterator[tuple[str, Answer | None]]:
        """Yield ``(text so far, None)`` while the engine writes, then ``(final text, Answer)``. With ``previous``
        (the conversation's last answer), a follow-up that points at its sources reads those papers again."""
        question = check_query(question)
        point = pointer(question) if previous is not None and previous.sources else None
        if point is not None:
            yield from self._about(question, point, previous)
            return
        query = check_query(self.standalone(question, history))
        retriever = self.retriever.pinned()  # one knowledge-base version for the whole answer
        why = filters.problem(retriever.filter_columns()) if filters else None
        if why:  # the filters, not the question, leave nothing to answer from
            text = NO_MATCH.format(filters=filters.describe(), why=why)
            yield text, Answer(question, text, (), True, f"filters: {why}", (), self.engine.name, query)
            return
        vector = retriever.embed_query(query)
        hits = retriever.search(query, self.settings.k, filters, vector=vector)
        best = max((h.dense_score for h in hits if h.dense_score is not None), default=0.0)
        threshold = self.settings.min_score
        name = self.engine.name
        if best < threshold:
            text = REFUSAL.format(best=best, threshold=threshold)
            yield text, Answer(question, text, (), True, f"best match {best:.2f} below {threshold:.2f}",
                               tuple(hits), name, query)
            return
        yield from self._write(question, query, retriever, vector, hits)

    def _about(self, question: str, point: Pointer, previous: Answer) -> Iterator[tuple[str, Answer | None]]:
        """Answer a follow-up that points at ``previous``'s sources from those papers only: more of their
        sentences (not the ones already quoted) on the previous query, plus any words the follow-up adds."""
        listed = {c.n: c for c in previous.sources}
        numbers = [max(listed) if n == -1 else n for n in point.numbers] or \
            [c.n for c in previous.citations] or list(listed)
        query = check_query(" ".join(filter(None, [previous.query or previous.question, point.extra])))
        missing = [n for n in numbers if n not in listed]
        if missing:
            text = NO_SUCH_SOURCE.format(last=max(listed), n=missing[0])
            yield text, Answer(question, text, (), True, "no such source", (), self.engine.name, query)
            return
        chosen = [listed[n] for n in numbers]
        scope = (f"source {chosen[0].n} of the previous answer: {chosen[0].record.title}" if len(chosen) == 1 else
                 f"sources {', '.join(str(c.n) for c in chosen)} of the previous answer")
        retriever = self.retriever.pinned()
        vector = retriever.embed_query(query)
        hits = retriever.search(query, len(chosen), Filters(ids=tuple(c.record.id for c in chosen)), vector=vector)
        shown = frozenset(q for c in previous.citations for q in c.all_quotes)
        yield from self._write(question, query, retriever, vector, hits, scope, per_paper=MORE_PER_PAPER,
                               skip=shown)

    def _write(self, question: str, query: str, retriever: Retriever, vector, hits: Sequence[Hit], scope: str = "",
               **extractive) -> Iterator[tuple[str, Answer | None]]:
        """Generate from the hits, verify every sentence, compose the ``Answer``."""
        name = self.engine.name
        sources = self._sources(hits)
        raw = ""
        if sources:
            options = extractive if name == "extractive" else {}
            for piece in self.engine.generate(query, sources, vector, **options):
                raw += piece
                yield raw, None
        if raw.strip().startswith(CANNOT_ANSWER[:20]):
            raw = ""
        asked = question_of(retriever, query, vector)
        verified = self.verifier.verify(raw, sources, attribute=name != "extractive", question=asked,
                                        names=name != "extractive") if raw.strip() else Verified("", (), ())
        answer = compose(question, query, asked, verified, hits, self.verifier, name)
        if scope:
            answer = replace(answer, scope=scope)
        yield answer.text, answer

    def _sources(self, hits: Sequence[Hit]) -> list[Hit]:
        """What the engine reads: papers with text (titles are listed, not read as findings); language models get
        the closest ``max_sources`` of them."""
        readable = [h for h in hits if h.record.text]
        if self.engine.name == "extractive":
            return readable  # (every other engine is a language model)
        relevant = [h for h in readable if h.dense_score is not None and h.dense_score >= self.settings.min_score]
        return relevant[:self.settings.max_sources]


def compose_answer(question: str, retriever: Retriever, settings: Settings | None = None) -> Answer:
    return Answerer(retriever, settings).answer(question)
