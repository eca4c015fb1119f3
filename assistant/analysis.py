"""Biomedical text analysis for the sparse index: tokens that keep gene and drug names intact.

A generic word tokenizer turns "PD-1" into "pd" and drops "1", so PD-1, PD-L1 and PD-L2 become one token. Here a
hyphenated or slashed name is kept whole with its separators removed ("PD-1" -> ``pd1``, "IFN-γ" -> ``ifngamma``,
"JAK1/2" -> ``jak1`` and ``jak2``), prefixed forms also yield the bare name ("anti-PD-1" -> ``antipd1`` and
``pd1``), and the alphabetic parts of a compound are added ("T-cell" -> ``tcell``, ``cell``). Plain words are
lower-cased, stemmed (Snowball, English) and stop words dropped. Every word gives a *primary* token first; the
synonym table matches phrases on primary tokens only.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .text import STOPWORDS

_GREEK = {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "κ": "kappa", "λ": "lambda", "μ": "mu",
          "τ": "tau", "ω": "omega"}
_GREEK_NAMES = frozenset(_GREEK.values()) | {"epsilon", "zeta", "eta", "theta", "iota", "nu", "xi", "pi", "rho",
                                               "sigma", "upsilon", "phi", "chi", "psi"}
_WORD = re.compile(r"[a-z0-9]+(?:[-/][a-z0-9]+)*")
_PREFIXES = {"anti", "non", "co", "pre", "post", "pro"}


@lru_cache(maxsize=1)
def _stemmer():
    try:
        import Stemmer
    except ImportError:  # PyStemmer is a dependency; without it tokens are simply not stemmed
        return None
    return Stemmer.Stemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    stemmer = _stemmer()
    return stemmer.stemWord(word) if stemmer and word.isalpha() else word


def _normalise(text: str) -> str:
    text = text.lower()
    for letter, name in _GREEK.items():
        text = text.replace(letter, name)
    return text


def _compound(word: str) -> list[str]:
    parts = word.split("-")
    joined = "".join(parts)
    out = [_stem(joined) if joined.isalpha() else joined]
    if len(parts) > 1:
        if parts[0] in _PREFIXES and len(parts) > 1:
            rest = "".join(parts[1:])
            out.append(_stem(rest) if rest.isalpha() else rest)
        # a Greek letter alone names nothing: "beta" of beta-2-microglobulin must not match TGF-beta
        out += [_stem(p) for p in parts if p.isalpha() and len(p) > 2 and p not in STOPWORDS and p not in _GREEK_NAMES]
    return out


@lru_cache(maxsize=200_000)
def _word(word: str) -> tuple[tuple[str, ...], ...]:
    """The token lists of one matched word (several for "JAK1/2"); none for a stop word. Cached: a corpus
    repeats its words, so building the sparse index analyses each distinct word once."""
    if "/" in word:
        alternatives = word.split("/")
        head = alternatives[0]
        stem = re.sub(r"\d+$", "", head)
        found = [_compound(stem + alt if alt.isdigit() and stem and head[len(stem):].isdigit() else alt)
                 for alt in alternatives]
    elif word in STOPWORDS or len(word) < 2:
        return ()
    else:
        found = [_compound(word)]
    return tuple(tuple(dict.fromkeys(tokens)) for tokens in found if tokens and tokens[0])


def analyse(text: str) -> list[list[str]]:
    """Per word of ``text``: its primary token, then any extra tokens."""
    return [list(tokens) for match in _WORD.finditer(_normalise(text)) for tokens in _word(match.group(0))]


def tokens(text: str) -> list[str]:
    return [token for word in analyse(text) for token in word]


def primary_tokens(text: str) -> list[str]:
    return [word[0] for word in analyse(text)]
