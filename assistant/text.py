"""Sentence splitting and tokenising shared by passages, answers and checks.

Sentences are returned as character spans into the original text, so anything quoted from them is verbatim
source text. The splitter is a deliberate regular expression tuned for abstracts: it does not split after common
abbreviations ("et al.", "e.g.", "Fig."), initials, or decimal points, and it needs no downloaded model.
"""

from __future__ import annotations

import re

from .limits import MAX_SENTENCE_CHARS

_ABBREVIATIONS = {
    "al", "e.g", "i.e", "etc", "fig", "figs", "vs", "approx", "ca", "cf", "dr", "no", "vol", "ref", "refs", "resp",
    "mr", "mrs", "ms", "prof", "st", "jr", "sr", "inc", "ltd", "co", "u.s", "nat", "sci", "med", "j",
}
_BOUNDARY = re.compile(r"[.!?](?:[\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9])")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
STOPWORDS = frozenset(
    "a an and are as at be been being but by can could did do does doing for from had has have how if in into is it "
    "its of on or our over so such than that the their them then there these they this those through to under up "
    "was we were what when where which while who whom why will with within would you your about after against "
    "also any both each few more most other some same between during before very not no nor only own too again "
    "further once here all me my i he she his her him us".split()
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Return ``(start, end)`` spans of the sentences of ``text``, whitespace trimmed."""
    spans = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.start() + 1
        tail = text[start:end].rstrip(".!?")
        last_word = tail.split()[-1].lower() if tail.split() else ""
        if last_word.rstrip(".") in _ABBREVIATIONS or re.fullmatch(r"[a-z]", last_word):
            continue
        if re.fullmatch(r"[A-Z]", tail.split()[-1] if tail.split() else ""):
            continue  # an initial, as in "Wei S. C."
        end = match.end() - len(match.group(0)) + len(match.group(0).rstrip())
        spans.append((start, end))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    trimmed = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            trimmed.extend(_bounded(text, s, e))
    return trimmed


def _bounded(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A span longer than ``MAX_SENTENCE_CHARS`` as pieces that end at a space where there is one."""
    pieces = []
    while end - start > MAX_SENTENCE_CHARS:
        cut = text.rfind(" ", start + MAX_SENTENCE_CHARS // 2, start + MAX_SENTENCE_CHARS)
        cut = cut if cut > start else start + MAX_SENTENCE_CHARS
        pieces.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        pieces.append((start, end))
    return pieces


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` without control characters (terminal escape codes, bidirectional overrides); newlines and tabs
    stay."""
    return _CONTROL.sub("", text)


def one_line(text: str) -> str:
    """``text`` printable and on one line: runs of whitespace, newlines included, become one space."""
    return " ".join(printable(text).split())


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def words(text: str) -> list[str]:
    """Lower-cased word tokens (hyphenated terms such as ``anti-pd-1`` kept whole)."""
    return [w.lower() for w in _WORD.findall(text)]


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in STOPWORDS and len(w) > 1}
