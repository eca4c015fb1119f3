"""Turn a follow-up question into a standalone query before retrieval.

"And in lung cancer?" means nothing to a retriever. The rules here cover the common elliptic forms (a leading
"and", "what about", "how about", "in ...", or a short question leaning on "it/this/they"): the previous standalone
question is reused with the new qualifier appended. Engines with a language model may rewrite with the model
instead (``prompts.REWRITE``); the rules are their fallback.
"""

from __future__ import annotations

import re
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
