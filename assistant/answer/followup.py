"""Turn a follow-up question into a standalone query before retrieval.

"And in lung cancer?" means nothing to a retriever. The rules here cover the common elliptic forms (a leading
"and", "what about", "how about", "in ...", or a short question leaning on "it/this/they"): the previous standalone
question is reused with the new qualifier appended. Engines with a language model may rewrite with the model
instead (``prompts.REWRITE``); the rules are their fallback.

A follow-up that points at the previous answer itself ("tell me more about the second source", "why?") is not
rewritten into a new search: ``pointer`` recognises it, and the answerer reads the papers it points at again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ..text import content_words

_LEAD = re.compile(r"^(?:and|but|also|so|then|what about|how about|and what about|and how about|what of)\b[\s,]*",
                   re.I)
_PRONOUNS = {"it", "this", "that", "they", "them", "these", "those", "its", "their"}


def is_follow_up(question: str) -> bool:
    q = question.strip().lower()
    if _LEAD.match(q):
        return True
    words = re.findall(r"[a-z0-9-]+", q)
    if words and words[0] in {"in", "for", "with", "without", "during", "after", "among"} and len(words) <= 8:
        return True
    return len(content_words(q)) <= 4 and bool(_PRONOUNS & set(words))


def rewrite(question: str, previous_questions: Sequence[str]) -> str:
    """A standalone version of ``question`` given the earlier questions of the conversation (newest last)."""
    question = " ".join(question.split())
    if not previous_questions or not is_follow_up(question):
        return question
    base = " ".join(previous_questions[-1].split()).rstrip("?.! ")
    addition = _LEAD.sub("", question).rstrip("?.! ")
    return f"{base} {addition}?".strip() if addition else f"{base}?"


_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
             "ninth": 9, "tenth": 10, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5, "last": -1}
_THING = r"(?:sources?|papers?|stud(?:y|ies)|articles?|references?|citations?|ones?)"
_BY_ORDINAL = re.compile(rf"\b(?:the\s+)?({'|'.join(_ORDINALS)})\s+{_THING}\b", re.I)
_BY_NUMBER = re.compile(rf"\b{_THING}\s*(?:no\.?|number|#)?\s*\[?(\d{{1,2}})\]?|\[(\d{{1,2}})\]", re.I)
_ASKING_MORE = {"why", "how", "explain", "more", "elaborate", "detail", "details", "else", "expand", "summarise",
                "summarize", "about", "find", "found", "show"}
_FILLER = _ASKING_MORE | _PRONOUNS | {
    "so", "is", "are", "was", "were", "tell", "me", "us", "please", "go", "on", "say", "can", "could", "you", "the",
    "a", "an", "what", "did", "does", "do", "of", "in", "that", "those", "answer", "finding", "findings", "claim",
    "claims", "source", "sources", "paper", "papers", "study", "studies", "article", "articles", "reference",
    "references", "citation", "citations", "one", "ones", "and", "both", "all", "on", "be", "true", "say", "says",
    "said", "it", "there", "exactly", "really", "further", "bit", "little", "some", "any", "give", "with", "from",
    "its", "their", "this", "these", "to", "for", "by", "which", "shows", "show", "showed", "report", "reports"}


@dataclass(frozen=True)
class Pointer:
    """A follow-up about the previous answer's own sources: which (``numbers``, empty for all it cites) and any
    words beyond the pointing (``extra``, added to the previous query)."""

    numbers: tuple[int, ...] = ()
    extra: str = ""


def pointer(question: str) -> Pointer | None:
    """``Pointer`` when the question points at the previous answer ("tell me more about the second source",
    "what did [2] find?", "why?"), else ``None``. A full question ("Why does PTEN loss cause resistance?") is not
    a pointer: besides the pointing, it may carry at most two words of its own."""
    text = " ".join(question.split())
    numbers = [_ORDINALS[m.group(1).lower()] for m in _BY_ORDINAL.finditer(text)]
    numbers += [int(m.group(1) or m.group(2)) for m in _BY_NUMBER.finditer(text)]
    rest = _BY_NUMBER.sub(" ", _BY_ORDINAL.sub(" ", text))
    words = re.findall(r"[a-z0-9-]+", rest.lower())
    own = [w for w in words if w not in _FILLER]
    if numbers:
        return Pointer(tuple(dict.fromkeys(numbers)), " ".join(own)) if len(own) <= 6 else None
    if words and not own and _ASKING_MORE & set(words):
        return Pointer()
    return None
