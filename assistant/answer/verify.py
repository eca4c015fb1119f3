"""Citation verification, run on every engine's output before anyone sees the final answer.

The answer is split into sentences and each ``[n]`` is checked: it must name one of the numbered sources, and that
source must support the sentence, judged lexically (the share of the sentence's content words found in one of the
source's sentences) and by embedding (cosine between the sentence and the source's best sentence). Unknown and
unsupported citations are removed; a sentence left without any is dropped from the answer, and the report
(``checks``) keeps it with its status (``unsupported``, or ``uncited`` when it never had one), so nothing
unverified reaches the reader as a claim. Kept citations are renumbered 1..m in order of first use, the reference list
holds only what is cited, and each citation's ``quote`` is the source sentence that supported it best.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..encoders import Encoder
from ..text import content_words, sentence_spans, sentences
from ..types import Citation, Hit, Record, SentenceCheck
from .guard import looks_like_instruction

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


def evidence_sentences(record: Record) -> list[str]:
    """What may support a claim: the title and the abstract's sentences, instruction-like text excluded."""
    return [s for s in [record.title] + sentences(record.text) if not looks_like_instruction(s)]


class Verifier:
    CACHE_SIZE = 20_000

    def __init__(self, encoder: Encoder):
        self.encoder = encoder
        self._vectors: dict[str, np.ndarray] = {}

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Encode with a bounded cache: the same source sentences come back question after question."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            if len(self._vectors) + len(missing) > self.CACHE_SIZE:
                self._vectors.clear()
            self._vectors.update(zip(missing, self.encoder.encode_batch(missing)))
        return np.vstack([self._vectors[t] for t in texts])

    def support(self, claim: str, record: Record) -> tuple[bool, str, float]:
        """Whether ``record`` supports ``claim``, with the best supporting sentence and its score."""
        candidates = evidence_sentences(record)
        words = content_words(claim)
        if not candidates or len(words) < 2:
            return False, "", 0.0
        vectors = self._encode([claim] + candidates)
        cosines = vectors[1:] @ vectors[0]
        lexical = np.array([len(words & content_words(c)) / len(words) if words else 0.0 for c in candidates])
        combined = cosines + lexical
        best = int(np.argmax(combined))
        c, lex = float(cosines[best]), float(lexical[best])
        supported = (c >= COSINE_SUPPORT or lex >= LEXICAL_SUPPORT
                     or (c >= COSINE_WITH_LEXICAL and lex >= LEXICAL_WITH_COSINE))
        return supported, candidates[best], float(combined[best])

    def verify(self, text: str, sources: Sequence[Hit], attribute: bool = False) -> Verified:
        """Check every citation of ``text`` against ``sources`` (numbered from 1, in order).

        With ``attribute``, a sentence the engine left without a citation gets the source that supports it best,
        if one does; the sentence is marked ``attributed`` and the missing citation is still reported.
        """
        text = MOVE_MARKERS.sub(lambda m: m.group(2) + m.group(1), text)
        checks: list[SentenceCheck] = []
        quotes: dict[int, tuple[float, str]] = {}
        pieces: list[tuple[str, list[int]]] = []
        for paragraph in re.split(r"\n\s*\n", text.strip()):
            for start, end in sentence_spans(paragraph):
                raw = paragraph[start:end]
                cited = [n for m in CITATION.finditer(raw) for n in _numbers(m.group(1))]
                claim = LIST_MARKER.sub("", CITATION.sub("", raw)).strip()
                if not any(ch.isalpha() for ch in claim):
                    continue
                problems, kept = [], []
                for n in dict.fromkeys(cited):
                    if not 1 <= n <= len(sources):
                        problems.append(f"unknown source [{n}] in: {claim}")
                        continue
                    ok, quote, score = self.support(claim, sources[n - 1].record)
                    if not ok:
                        problems.append(f"source [{n}] does not support: {claim}")
                        continue
                    kept.append(n)
                    if n not in quotes or score > quotes[n][0]:
                        quotes[n] = (score, quote)
                status = "supported" if kept else ("uncited" if not cited else "unsupported")
                if not cited:
                    found = self._attribute(claim, sources) if attribute else None
                    if found:
                        n, score, quote = found
                        kept, status = [n], "attributed"
                        if n not in quotes or score > quotes[n][0]:
                            quotes[n] = (score, quote)
                        problems.append(f"no citation (attributed to [{n}] by the verifier): {claim}")
                    else:
                        problems.append(f"no citation: {claim}")
                checks.append(SentenceCheck(claim, tuple(kept), status, tuple(problems)))
                pieces.append((claim, kept))
            pieces.append(("\n\n", []))
        order = list(dict.fromkeys(n for _, kept in pieces for n in kept))
        renumber = {old: new for new, old in enumerate(order, start=1)}
        out, line = [], []
        for claim, kept in pieces:
            if claim == "\n\n":
                if line:
                    out.append(" ".join(line))
                line = []
                continue
            if kept:
                line.append(_with_markers(claim, [renumber[n] for n in kept]))
        text = "\n\n".join(out)
        citations = tuple(Citation(renumber[n], sources[n - 1].record, quotes[n][1]) for n in order)
        checks = tuple(SentenceCheck(c.text, tuple(renumber[n] for n in c.cited), c.status, c.problems)
                       for c in checks)
        return Verified(text, citations, checks)

    def _attribute(self, claim: str, sources: Sequence[Hit]) -> tuple[int, float, str] | None:
        best = None
        for n, hit in enumerate(sources, start=1):
            ok, quote, score = self.support(claim, hit.record)
            if ok and (best is None or score > best[1]):
                best = (n, score, quote)
        return best


def _with_markers(claim: str, numbers: list[int]) -> str:
    markers = "".join(f"[{n}]" for n in numbers)
    stop = claim[-1] if claim[-1] in ".!?" else "."
    body = claim[:-1] if claim[-1] in ".!?" else claim
    return f"{body} {markers}{stop}"
