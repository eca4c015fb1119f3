"""Whether a sentence bears on the question, apart from whether its source says it.

Verification proves that a sentence is *in* its source; it says nothing about whether the sentence answers the
question. Relevance does: ``relevance = cosine(question, sentence) + 0.5 * terms + 0.25 * words``, where ``terms``
is the share of the question's words that the sentence contains as analysed tokens, a synonym counting as the word
(``SynonymTable.concepts``), and ``words`` the share of its plain content words. The weights are a logistic fit, rescaled to the cosine, of SciFact *train* rationale sentences
against every other sentence of the papers retrieved for the same claims; the threshold 0.65 is where 97% of the
train claims still keep a sentence (rationale recall 0.7). ``benchmarks/relevance_threshold.py`` prints the curve.
Nothing was tuned on the test split.

Papers are then chosen by their best relevant sentence plus a little for how retrieval placed them
(``0.2 / rank + 0.2 * cosine of the paper's best passage``): the best paper, and others within 0.25 of it, at most
``max_citations``. Those three numbers maximise, on SciFact train, the share of claims that cite a relevant paper
while at least 40% of cited papers are relevant (0.724 and 0.403; the sweep is in the benchmark). Within a paper the quoted
sentence is the relevant one that carries the most of the question's terms, leaning to later sentences (results and
conclusions come last in an abstract) and to complete ones: ``evidence = cosine + terms + 0.4 * position +
0.2 * length``. On SciFact train that quote is a gold rationale sentence for 0.69 of cited annotated papers, against
0.49 for the cosine alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..analysis import tokens
from ..text import content_words

TERM_WEIGHT = 0.5
WORD_WEIGHT = 0.25
RELEVANCE_THRESHOLD = 0.65
RANK_BONUS = 0.2
CLOSENESS_WEIGHT = 0.2
PAPER_MARGIN = 0.25
EVIDENCE_TERMS = 1.0
EVIDENCE_POSITION = 0.4
EVIDENCE_LENGTH = 0.2
MIN_WORDS = 4

_LABEL = re.compile(
    r"^(?:(?:BACKGROUND|INTRODUCTION|CONTEXT|IMPORTANCE|OBJECTIVES?|AIMS?|PURPOSE|METHODS?|MATERIALS AND METHODS|"
    r"DESIGN|SETTING|PATIENTS|PARTICIPANTS|INTERVENTIONS?|MEASUREMENTS?|MAIN OUTCOMES?(?: AND MEASURES?)?|"
    r"RESULTS?|FINDINGS|CONCLUSIONS?(?: AND RELEVANCE)?|INTERPRETATION|SIGNIFICANCE|DISCUSSION|SUMMARY|"
    r"EXPERIMENTAL DESIGN|TRIAL REGISTRATION)(?:\s*[:.–-]\s*|\s+(?=[A-Z]))"
    r"|(?:Background|Introduction|Objectives?|Aims?|Purpose|Methods?|Results?|Findings|Conclusions?|"
    r"Interpretation|Significance|Discussion|Summary)\s*:\s*)")
_CONNECTIVE = re.compile(
    r"^(?:(?:Also|Furthermore|Moreover|However|In addition|Additionally|Thus|Therefore|Hence|Consequently|Finally|"
    r"Further|Nevertheless|Nonetheless|In contrast|By contrast|Similarly|Likewise|Importantly|Notably|"
    r"Interestingly|Indeed|Conversely|Accordingly|Overall|In conclusion|In summary|Taken together|Collectively|"
    r"Altogether|Of note|Lastly|Second|Secondly|Third|Thirdly|First|Firstly|Here|Herein|In this study|"
    r"In this review)\s*,\s*|(?:Also|And|But|Yet|So)\s+)", re.I)


def standalone(sentence: str) -> str:
    """A source sentence made to stand alone: no section label, no dangling connective in front. Only a leading
    word or label goes, so the sentence still reads as its source wrote it."""
    text = sentence.strip()
    while True:
        trimmed = _CONNECTIVE.sub("", _LABEL.sub("", text, count=1), count=1)
        if trimmed == text:
            break
        text = trimmed
    first = text.split(" ", 1)[0]
    if first.isalpha() and first.islower():
        text = text[0].upper() + text[1:]
    return text


def usable(sentence: str) -> bool:
    """A sentence that can be a finding: a statement of a few words, not a question."""
    return len(sentence.split()) >= MIN_WORDS and not sentence.rstrip().endswith("?")


@dataclass(frozen=True)
class Question:
    """What relevance is measured against: the question's vector, its words as analysed tokens (each with its
    synonyms) and its plain content words."""

    vector: np.ndarray
    concepts: tuple[frozenset[str], ...]
    words: frozenset[str]

    @classmethod
    def of(cls, text: str, vector: np.ndarray, concepts: Sequence[frozenset[str]]) -> "Question":
        return cls(vector, tuple(c for c in concepts if c), frozenset(content_words(text)))

    def term_share(self, text: str) -> float:
        if not self.concepts:
            return 0.0
        have = set(tokens(text))
        return sum(1 for c in self.concepts if c & have) / len(self.concepts)

    def word_share(self, text: str) -> float:
        return len(self.words & content_words(text)) / len(self.words) if self.words else 0.0

    def relevance(self, text: str, vector: np.ndarray) -> float:
        return float(vector @ self.vector) + TERM_WEIGHT * self.term_share(text) + WORD_WEIGHT * self.word_share(text)


def is_relevant(score: float, threshold: float = RELEVANCE_THRESHOLD) -> bool:
    return score >= threshold


def evidence_score(question: Question, text: str, vector: np.ndarray, position: int, count: int) -> float:
    """How well a relevant sentence serves as its paper's key finding (see the module docstring)."""
    where = position / (count - 1) if count > 1 else 1.0
    return (float(vector @ question.vector) + EVIDENCE_TERMS * question.term_share(text)
            + EVIDENCE_POSITION * where + EVIDENCE_LENGTH * min(len(text.split()), 60) / 60)
