"""Whether a sentence bears on the question, apart from whether its source says it.

Verification proves that a sentence is *in* its source; it says nothing about whether the sentence answers the
question. Relevance does: ``relevance = cosine(question, sentence) + 0.65 * terms + 0.25 * words``, where ``terms``
is the share of the question's words that the sentence contains as analysed tokens, a synonym counting as the word
(``SynonymTable.concepts``), each word weighted by its idf in the knowledge base (a sentence that shares only
"PD-1" and "response" with a question about the gut microbiome shares little of it), and ``words`` the share of its
plain content words. The weights are a logistic fit, rescaled to the cosine, of SciFact *train* rationale sentences
against every other sentence of the papers retrieved for the same claims (AUC 0.862, against 0.858 unweighted);
the threshold 0.70 is the largest on a 0.05 grid at which 95% of the train claims still keep a sentence. ``benchmarks/relevance_threshold.py`` prints the curve.
Nothing was tuned on the test split.

Papers are then chosen by a small logistic model (``paper_probability``) of how likely a paper is to be relevant,
over what retrieval and the sentences say about it: its best and best-two relevance, its rank, its cosine and how
far that is below the best paper's, its BM25 score as a share of the best, how far its best relevance is below the
best paper's, and its best evidence score. Among papers with at least one relevant sentence, the most probable is
cited, and others at most ``max_citations`` with probability at least ``PAPER_MIN_PROBABILITY``. The model was fitted
on SciFact *train* (809 claims, 8 retrieved papers each); the probability floor is the one that, in five-fold
cross-validation on train, cites a relevant paper for the most claims while keeping at least 40% of cited papers
relevant (0.764 at 0.404, against 0.741 at 0.408 for the previous hand-weighted rule). Within a paper the quoted
sentence is the relevant one that carries the most of the question's terms, leaning to later sentences (results and
conclusions come last in an abstract) and to complete ones: ``evidence = cosine + terms + 0.4 * position +
0.2 * length``. On SciFact train that quote was a gold rationale sentence for 0.69 of cited annotated papers, against
0.49 for the cosine alone (0.65 with the paper model, which cites more papers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..analysis import tokens
from ..text import content_words

TERM_WEIGHT = 0.65
WORD_WEIGHT = 0.25
RELEVANCE_THRESHOLD = 0.70
# Paper model: logistic weights for (best relevance, mean of best two, 1/rank, cosine, cosine - best cosine,
# BM25 / best BM25, best relevance - best paper's, best evidence), fitted by benchmarks/relevance_threshold.py.
PAPER_WEIGHTS = (0.715, 0.919, 1.989, 1.778, 4.32, 1.915, 2.027, 0.442)
PAPER_BIAS = -6.665
PAPER_MIN_PROBABILITY = 0.07
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


def paper_probability(features: Sequence[float], weights: Sequence[float] = PAPER_WEIGHTS,
                      bias: float = PAPER_BIAS) -> float:
    """How likely a paper is relevant to the question, from its ``PaperEvidence.features``."""
    z = bias + float(np.dot(weights, features))
    return float(1.0 / (1.0 + np.exp(-z)))


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
    weights: tuple[float, ...] = ()  # idf per concept; empty: all alike

    @classmethod
    def of(cls, text: str, vector: np.ndarray, concepts: Sequence[frozenset[str]],
           weights: Sequence[float] = ()) -> "Question":
        kept = [(c, w) for c, w in zip(concepts, list(weights) or [1.0] * len(concepts)) if c]
        return cls(vector, tuple(c for c, _ in kept), frozenset(content_words(text)), tuple(w for _, w in kept))

    def term_share(self, text: str, weighted: bool = False) -> float:
        """Share of the question's concepts the text contains; with ``weighted``, each counts by its idf."""
        if not self.concepts:
            return 0.0
        have = set(tokens(text))
        weights = self.weights if weighted and self.weights else (1.0,) * len(self.concepts)
        return sum(w for c, w in zip(self.concepts, weights) if c & have) / sum(weights)

    def word_share(self, text: str) -> float:
        return len(self.words & content_words(text)) / len(self.words) if self.words else 0.0

    def relevance(self, text: str, vector: np.ndarray) -> float:
        return (float(vector @ self.vector) + TERM_WEIGHT * self.term_share(text, weighted=True)
                + WORD_WEIGHT * self.word_share(text))


def is_relevant(score: float, threshold: float = RELEVANCE_THRESHOLD) -> bool:
    return score >= threshold


def evidence_score(question: Question, text: str, vector: np.ndarray, position: int, count: int) -> float:
    """How well a relevant sentence serves as its paper's key finding (see the module docstring)."""
    where = position / (count - 1) if count > 1 else 1.0
    return (float(vector @ question.vector) + EVIDENCE_TERMS * question.term_share(text)
            + EVIDENCE_POSITION * where + EVIDENCE_LENGTH * min(len(text.split()), 60) / 60)
