"""Citation verification, run on every engine's output before anyone sees the final answer.

The answer is split into sentences and each ``[n]`` is checked: it must name one of the numbered sources, and that
source must support the sentence, judged lexically (the share of the sentence's content words found in one of the
source's sentences) and by embedding (cosine between the sentence and the source's best sentence). What supports a
claim is the abstract's (or full text's) sentences; a paper's title only when the paper has nothing else. With
``names`` (language-model output), a sentence that names a gene, protein, drug or abbreviation its source never
mentions is unsupported whatever its wording, so "PTTEN" or an invented "(MLL)" does not pass on similarity.
Given the ``question``, each sentence is also tested for relevance (``relevance``): supported but off the question
is ``irrelevant``. Unknown, unsupported and irrelevant citations are removed; a sentence left without any is dropped,
and the report (``checks``) keeps it with both verdicts, so nothing unverified reaches the reader as a claim. Kept
citations are renumbered 1..m in order of first use, and each citation's ``quote`` is the source sentence that
supported it best. ``paragraphs`` keeps the engine's paragraphs: the first is the answer's bottom line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..encoders import Encoder
from ..synonyms import SynonymTable
from ..text import content_words, sentence_spans, sentences
from ..types import Citation, Hit, Passage, Record, SentenceCheck
from .guard import looks_like_instruction
from .relevance import Question, is_relevant
from .terms import unknown_names

CITATION = re.compile(r"\s*\[(\d+(?:\s*[,;–-]\s*\d+)*)\]")
# A sentence is supported by a source sentence it nearly restates (cosine >= 0.8), whose content words it mostly
# shares (>= 60%), or that is close in meaning and shares a good part of its words. Topical similarity alone
# (same genes, different claim) is not support.
LEXICAL_SUPPORT = 0.6
COSINE_SUPPORT = 0.8
COSINE_WITH_LEXICAL = 0.5
LEXICAL_WITH_COSINE = 0.35
LIST_MARKER = re.compile(r"^\s*(?:\(?\d{1,2}[.)]|[-*•])\s+")
MOVE_MARKERS = re.compile(r"([.!?])((?:\s*\[\d[\d,;\s–-]*\])+)")  # "claim.[1]" -> "claim [1]."


@dataclass(frozen=True)
class Verified:
    text: str
    citations: tuple[Citation, ...]
    checks: tuple[SentenceCheck, ...]
    paragraphs: tuple[tuple[str, ...], ...] = ()  # kept sentences with their renumbered markers

    @property
    def problems(self) -> list[str]:
        return [p for c in self.checks for p in c.problems]


def _numbers(group: str) -> list[int]:
    out = []
    for part in re.split(r"\s*[,;]\s*", group):
        bounds = re.split(r"\s*[–-]\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit() and int(bounds[1]) - int(bounds[0]) < 20:
            out += list(range(int(bounds[0]), int(bounds[1]) + 1))
        elif part.strip().isdigit():
            out.append(int(part))
    return out


def evidence_sentences(record: Record, passages: Sequence[Passage] = ()) -> list[str]:
    """What may support a claim: the abstract's sentences, the retrieved passages' sentences for a full text (which
    has hundreds), or the title of a paper that has no text; instruction-like text excluded."""
    if record.parts and any(p.body for p in passages):
        found = list(dict.fromkeys(s for p in passages if p.body for s in sentences(p.body)))
    else:
        found = sentences(record.text) if record.text else [record.title]
    return [s for s in found if s and not looks_like_instruction(s)]


def evidence_kind(record: Record, quote: str) -> str:
    """``title``, ``full_text`` or ``abstract``: what a quote is (a full text's abstract is an abstract)."""
    if not record.text or quote == record.title:
        return "title"
    part = record.place_of(quote)
    return "full_text" if part is not None and part.section != "Abstract" else "abstract"


class Verifier:
    CACHE_SIZE = 20_000

    def __init__(self, encoder: Encoder, synonyms: SynonymTable | None = None):
        self.encoder = encoder
        self.synonyms = synonyms
        self._vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        """Encode with a bounded cache: the same source sentences come back question after question."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            if len(self._vectors) + len(missing) > self.CACHE_SIZE:
                self._vectors.clear()
            self._vectors.update(zip(missing, self.encoder.encode_batch(missing)))
        return np.vstack([self._vectors[t] for t in texts])

    def support(self, claim: str, record: Record, passages: Sequence[Passage] = ()) -> tuple[bool, str, float]:
        """Whether ``record`` (for a full text, its retrieved ``passages``) supports ``claim``, with the best
        supporting sentence and its score."""
        candidates = evidence_sentences(record, passages)
        words = content_words(claim)
        if not candidates or len(words) < 2:
            return False, "", 0.0
        vectors = self.encode([claim] + candidates)
        cosines = vectors[1:] @ vectors[0]
        lexical = np.array([len(words & content_words(c)) / len(words) if words else 0.0 for c in candidates])
        combined = cosines + lexical
        best = int(np.argmax(combined))
        c, lex = float(cosines[best]), float(lexical[best])
        supported = (c >= COSINE_SUPPORT or lex >= LEXICAL_SUPPORT
                     or (c >= COSINE_WITH_LEXICAL and lex >= LEXICAL_WITH_COSINE))
        return supported, candidates[best], float(combined[best])

    def verify(self, text: str, sources: Sequence[Hit], attribute: bool = False, question: Question | None = None,
               names: bool = False) -> Verified:
        """Check every citation of ``text`` against ``sources`` (numbered from 1, in order).

        With ``attribute``, a sentence the engine left without a citation gets the source that supports it best,
        if one does; the sentence is marked ``attributed`` and the missing citation is still reported. With
        ``question``, sentences are tested for relevance too; with ``names``, for names their source lacks.
        """
        text = MOVE_MARKERS.sub(lambda m: m.group(2) + m.group(1), text)
        checks: list[SentenceCheck] = []
        quotes: dict[int, tuple[float, str, float]] = {}  # source -> (support, quote, relevance)
        every: dict[int, list[str]] = {}  # source -> the quote behind each kept sentence citing it
        pieces: list[tuple[str, list[int]]] = []
        for paragraph in re.split(r"\n\s*\n", text.strip()):
            for start, end in sentence_spans(paragraph):
                raw = paragraph[start:end]
                cited = [n for m in CITATION.finditer(raw) for n in _numbers(m.group(1))]
                claim = LIST_MARKER.sub("", CITATION.sub("", raw)).strip()
                if not any(ch.isalpha() for ch in claim):
                    continue
                relevance = self._relevance(claim, question)
                problems, kept, best, behind = [], [], None, {}
                for n in dict.fromkeys(cited):
                    if not 1 <= n <= len(sources):
                        problems.append(f"unknown source [{n}] in: {claim}")
                        continue
                    ok, quote, score = self._check(claim, sources[n - 1], names, problems, n)
                    if not ok:
                        continue
                    kept.append(n)
                    behind[n] = quote
                    best = score if best is None else max(best, score)
                    if n not in quotes or score > quotes[n][0]:
                        quotes[n] = (score, quote, relevance if relevance is not None else 0.0)
                status = "supported" if kept else ("uncited" if not cited else "unsupported")
                if not cited:
                    found = self._attribute(claim, sources, names) if attribute else None
                    if found:
                        n, best, quote = found
                        kept, status, behind[n] = [n], "attributed", quote
                        if n not in quotes or best > quotes[n][0]:
                            quotes[n] = (best, quote, relevance if relevance is not None else 0.0)
                        problems.append(f"no citation (attributed to [{n}] by the verifier): {claim}")
                    else:
                        problems.append(f"no citation: {claim}")
                supported = bool(kept)
                relevant = relevance is None or is_relevant(relevance)
                if supported and not relevant:
                    problems.append(f"not relevant to the question (relevance {relevance:.2f}): {claim}")
                    status, kept = "irrelevant", []
                for n in kept:
                    every.setdefault(n, []).append(behind[n])
                checks.append(SentenceCheck(claim, tuple(kept), status, tuple(problems), supported, relevant, best,
                                            relevance))
                pieces.append((claim, kept))
            pieces.append(("\n\n", []))
        order = list(dict.fromkeys(n for _, kept in pieces for n in kept))
        renumber = {old: new for new, old in enumerate(order, start=1)}
        paragraphs, line = [], []
        for claim, kept in pieces:
            if claim == "\n\n":
                if line:
                    paragraphs.append(tuple(line))
                line = []
                continue
            if kept:
                line.append(_with_markers(claim, [renumber[n] for n in kept]))
        text = "\n\n".join(" ".join(p) for p in paragraphs)
        citations = tuple(Citation(renumber[n], sources[n - 1].record, quotes[n][1],
                                   evidence_kind(sources[n - 1].record, quotes[n][1]),
                                   quotes[n][2] if question is not None else None, quotes[n][0],
                                   tuple(dict.fromkeys(every.get(n, ())))) for n in order)
        checks = tuple(SentenceCheck(c.text, tuple(renumber[n] for n in c.cited), c.status, c.problems, c.supported,
                                     c.relevant, c.support, c.relevance) for c in checks)
        return Verified(text, citations, checks, tuple(paragraphs))

    def _relevance(self, claim: str, question: Question | None) -> float | None:
        if question is None:
            return None
        return question.relevance(claim, self.encode([claim])[0])

    def _check(self, claim: str, hit: Hit, names: bool, problems: list[str], n: int) -> tuple[bool, str, float]:
        record = hit.record
        ok, quote, score = self.support(claim, record, hit.passages)
        if not ok:
            problems.append(f"source [{n}] does not support: {claim}")
            return False, quote, score
        if names and self.synonyms is not None:
            strangers = unknown_names(claim, record, self.synonyms)
            if strangers:
                problems.append(f"source [{n}] never mentions {', '.join(strangers)}: {claim}")
                return False, quote, score
        return True, quote, score

    def _attribute(self, claim: str, sources: Sequence[Hit], names: bool) -> tuple[int, float, str] | None:
        best = None
        for n, hit in enumerate(sources, start=1):
            ok, quote, score = self._check(claim, hit, names, [], n)
            if ok and (best is None or score > best[1]):
                best = (n, score, quote)
        return best


def _with_markers(claim: str, numbers: list[int]) -> str:
    markers = "".join(f"[{n}]" for n in numbers)
    stop = claim[-1] if claim[-1] in ".!?" else "."
    body = claim[:-1] if claim[-1] in ".!?" else claim
    return f"{body} {markers}{stop}"
