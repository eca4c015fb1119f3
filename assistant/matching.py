"""Which sentences of a passage a query matched: the ones sharing the most analysed terms (synonyms included).

Shown under each hit (CLI, chat) and returned by the APIs; ``Hit.matches`` calls this on first use only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .analysis import tokens
from .text import sentence_spans

if TYPE_CHECKING:  # types calls this module; it needs nothing of types at run time
    from .types import Passage


def best_sentences(passage: "Passage", terms: frozenset[str], most: int = 2) -> tuple[str, ...]:
    """Up to ``most`` sentences of the passage body, most shared terms first, then in reading order; a
    title-only passage matches with its title."""
    if not passage.body:
        return (passage.title,) if terms & set(tokens(passage.title)) else ()
    scored = []
    for start, end in sentence_spans(passage.body):
        sentence = passage.body[start:end]
        overlap = len(terms & set(tokens(sentence)))
        if overlap:
            scored.append((-overlap, start, sentence))
    return tuple(sentence for _, _, sentence in sorted(scored)[:most])
