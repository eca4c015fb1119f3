"""Named things in a question or a claim (genes, proteins, drugs, cancers) and whether a source mentions them.

Two checks rest on this. An answer names the question's key terms that none of its sources mentions ("None of the
sources here mentions B2M."), and a generated sentence is unsupported when it names something its cited source does
not (a misspelled "PTTEN", an invented abbreviation "(MLL)"). A term is found by shape, not by a dictionary: a word
with a capital letter after its first character or with letters and digits (PTEN, JAK1/2, PD-L1, mTOR, CD8), a
parenthesised abbreviation, a drug name (-mab, -nib), a named cancer ("lung cancer", "melanoma"), or any entity
group of the synonym table. A source mentions a term when every analysed token of the term, or of one of its
synonyms, occurs in the source's title, text or subject terms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..analysis import analyse, tokens
from ..synonyms import SynonymTable
from ..types import Record

_NAME = re.compile(r"(?<![\w-])(?=[\w/-]*[A-Za-z])[A-Za-z0-9][\w/-]*[\w+]?")
_ABBREVIATION = re.compile(r"\(([A-Z][A-Za-z0-9-]{1,9})\)")
_DRUG = re.compile(r"\b[a-z]{3,}(?:mab|nib|lib|cept)\b", re.I)
_CANCER = re.compile(r"\b([A-Za-z-]+(?: cell)? (?:cancers?|carcinomas?))\b|\b(\w*(?:melanoma|lymphoma|leukaemia|leukemia|"
                     r"glioma|glioblastoma|sarcoma|myeloma|mesothelioma|blastoma))\b", re.I)
_NOT_CANCER_HEAD = {"the", "a", "an", "of", "in", "for", "with", "and", "or", "human", "advanced", "metastatic", "solid",
                    "all", "many", "most", "some", "other", "which", "what", "treated", "resistant"}


def looks_like_name(word: str) -> bool:
    """PTEN, JAK1/2, PD-L1, mTOR, CD8+, B2M: a capital after the first character, or letters mixed with digits."""
    core = word.strip("+-/")
    if len(core) < 2 or not any(c.isalpha() for c in core):
        return False
    return any(c.isupper() for c in core[1:]) or (any(c.isdigit() for c in core) and any(c.isupper() for c in core))


@dataclass(frozen=True)
class Term:
    """A named thing: how it was written and the token sequences (its own and its synonyms') that mention it."""

    name: str
    forms: tuple[tuple[str, ...], ...]

    def mentioned_in(self, source_tokens: set[str]) -> bool:
        return any(form and set(form) <= source_tokens for form in self.forms)


def source_tokens(record: Record) -> set[str]:
    """Every analysed token of what a record says: title, text and subject terms."""
    return set(tokens(" ".join([record.title, record.text, *record.subjects])))


def _term(name: str, table: SynonymTable, groups: list[int] = ()) -> Term:
    own = tuple(w[0] for w in analyse(name))
    alternatives = [tuple(w) for w in analyse(name)] if "/" in name else []  # JAK1/2: either is a mention
    forms = [own] + [(t[0],) for t in alternatives]
    for group in groups or [g for g, _, _ in table.matches(name)]:
        forms += table.names(group)
    return Term(name, tuple(dict.fromkeys(f for f in forms if f)))


def key_terms(question: str, table: SynonymTable) -> list[Term]:
    """The question's entities: entity groups of the synonym table, then names, drugs and cancers it writes."""
    found: list[Term] = []
    covered: set[str] = set()
    primaries = [w[0] for w in analyse(question)]
    longest: dict[int, tuple[int, int]] = {}
    for group, first, end in table.matches(question):
        widest = longest.get(group)
        if table.key[group] and (widest is None or end - first > widest[1] - widest[0]):
            longest[group] = (first, end)
    for group, (first, end) in longest.items():
        span = set(primaries[first:end])
        if span & covered:
            continue
        covered |= span
        found.append(_term(_written(question, primaries[first:end]) or table.groups[group][0], table, [group]))
    for name in _names(question):
        own = [w[0] for w in analyse(name)]
        if own and not set(own) & covered:
            covered |= set(own)
            found.append(_term(name, table))
    return list({t.name.lower(): t for t in found}.values())


def _names(text: str) -> list[str]:
    names = [m.group(0).rstrip(".,;:") for m in _NAME.finditer(text) if looks_like_name(m.group(0).rstrip(".,;:"))]
    names += [m.group(1) for m in _ABBREVIATION.finditer(text)]
    names += [m.group(0) for m in _DRUG.finditer(text)]
    for match in _CANCER.finditer(text):
        phrase = match.group(1) or match.group(2)
        if match.group(1) and phrase.split()[0].lower() in _NOT_CANCER_HEAD:
            continue
        names.append(phrase)
    return list(dict.fromkeys(names))


def _written(text: str, primaries: list[str]) -> str:
    """The words of ``text`` whose primary tokens are ``primaries``, as the user wrote them."""
    words = re.findall(r"[\w/+-]+", text)
    for i in range(len(words)):
        if not analyse(words[i]):  # a stop word does not start a name
            continue
        for j in range(i + 1, min(len(words), i + 6) + 1):
            if [w[0] for w in analyse(" ".join(words[i:j]))] == primaries:
                return " ".join(words[i:j])
    return ""


def unknown_names(claim: str, record: Record, table: SynonymTable) -> list[str]:
    """Names in ``claim`` that ``record`` never mentions (synonyms allowed): a misspelled gene, an invented
    abbreviation. A generated sentence that has any is not supported by that record."""
    have = source_tokens(record)
    return [name for name in _names(claim) if not _term(name, table).mentioned_in(have)]


def missing_terms(question: str, records, table: SynonymTable) -> list[str]:
    """Key terms of ``question`` that none of ``records`` mentions."""
    terms = key_terms(question, table)
    if not terms:
        return []
    have: set[str] = set()
    for record in records:
        have |= source_tokens(record)
    return [t.name for t in terms if not t.mentioned_in(have)]


def gap_sentence(missing: list[str]) -> str:
    if not missing:
        return ""
    names = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " or " + missing[-1]
    return f"None of the sources here mentions {names}."
