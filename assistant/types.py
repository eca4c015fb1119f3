"""The domain chain as small frozen dataclasses: Record -> Passage -> Hit -> Answer/Citation.

Everything the library hands out is one of these types, never a bare dict or tuple. Each type knows how to turn
itself into the plain JSON shape that the CLI, the HTTP API and the chat print (``to_dict``), so every front end
speaks the same schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping
from urllib.parse import quote, urlsplit

RECORD_TYPES = ("full_text", "abstract", "reference_title", "title")
SUBJECT_FIELDS = ("topics", "keywords", "mesh_terms")


SITE_NAMES = {"pubmed.ncbi.nlm.nih.gov": "PubMed", "pmc.ncbi.nlm.nih.gov": "PMC", "www.ncbi.nlm.nih.gov": "NCBI",
              "europepmc.org": "Europe PMC", "api.semanticscholar.org": "Semantic Scholar",
              "www.semanticscholar.org": "Semantic Scholar", "doi.org": "DOI", "dx.doi.org": "DOI",
              "link.springer.com": "Springer", "www.cell.com": "Cell Press", "www.nature.com": "Nature",
              "www.science.org": "Science", "www.thelancet.com": "The Lancet", "www.nejm.org": "NEJM"}


def site_name(url: str) -> str:
    """A link's site as a reader knows it ("Europe PMC", "Semantic Scholar"), else its host without ``www.``."""
    host = (urlsplit(url).hostname or "").lower()
    return SITE_NAMES.get(host) or host.removeprefix("www.") or "link"


@dataclass(frozen=True)
class Part:
    """A stretch of a full text: ``text[start:end]`` lies in ``section`` (a heading, "Abstract", "Figure 2") and,
    for a PDF, on ``page``. A record keeps its parts as ``extra["parts"]`` (plain dicts, as stored)."""

    start: int
    end: int
    section: str = ""
    page: int | None = None

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"start": self.start, "end": self.end, "section": self.section}
        if self.page is not None:
            row["page"] = self.page
        return row


@dataclass(frozen=True)
class Record:
    """One paper: bibliographic facts plus, when known, its abstract text.

    ``extra`` keeps every other field the source carried (``ref_number``, ``topics``, ``keywords``, ...);
    ``source_ids`` lists the ids of all source records merged into this one.
    """

    id: str
    type: str
    title: str
    text: str = ""
    authors: str = ""
    journal: str = ""
    year: int | None = None
    doi: str | None = None
    pmid: str | None = None
    url: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    source_ids: tuple[str, ...] = ()

    @property
    def link(self) -> str | None:
        """The most checkable link: PubMed, then PMC, then DOI, then the source's URL. Checked again here, whatever
        the ingest let through: a PMID must be digits, a DOI is percent-encoded, a URL must be http(s); characters
        that could end a Markdown or HTML link are percent-encoded."""
        if self.pmid and self.pmid.isascii() and self.pmid.isdigit():
            return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"
        if self.pmcid:
            return f"https://pmc.ncbi.nlm.nih.gov/articles/{self.pmcid}/"
        if self.doi:
            return "https://doi.org/" + quote(self.doi.strip(), safe="/:;.-_")
        if self.url:
            url = self.url.strip()
            parts = urlsplit(url)
            if parts.scheme.lower() in ("http", "https") and parts.netloc and url.isprintable():
                return quote(url, safe=":/?#&=%;@+,.~-_!$*")
        return None

    @property
    def pmcid(self) -> str | None:
        value = str(self.extra.get("pmcid") or "").strip().upper()
        value = value if value.startswith("PMC") else f"PMC{value}" if value else ""
        return value if value[3:].isascii() and value[3:].isdigit() else None

    @property
    def link_label(self) -> str:
        """What ``link`` is, in words a reader trusts: "PubMed 123", "PMC456", "DOI 10...", or the site's name."""
        link = self.link
        if link is None:
            return ""
        if link.startswith("https://pubmed.ncbi.nlm.nih.gov/"):
            return f"PubMed {self.pmid}"
        if self.pmcid and link.startswith("https://pmc.ncbi.nlm.nih.gov/"):
            return self.pmcid
        if self.doi and link.startswith("https://doi.org/"):
            return f"DOI {self.doi}"
        return site_name(link)

    @property
    def parts(self) -> tuple[Part, ...]:
        """Where the sections (and pages) of a full text lie in ``text``; empty for an abstract or a title."""
        rows = self.extra.get("parts") or ()
        return tuple(Part(int(r["start"]), int(r["end"]), str(r.get("section") or ""),
                          int(r["page"]) if r.get("page") is not None else None) for r in rows)

    def part_at(self, offset: int) -> Part | None:
        """The part that holds character ``offset`` of ``text``."""
        return next((p for p in self.parts if p.start <= offset < p.end), None)

    def place_of(self, quote: str) -> Part | None:
        """The part a verbatim quote of ``text`` comes from, or ``None`` (no parts, or not found)."""
        if not quote or "parts" not in self.extra:
            return None
        at = self.text.find(quote)
        return self.part_at(at) if at >= 0 else None

    @property
    def subjects(self) -> tuple[str, ...]:
        """What the record says it is about: its ``topics``, ``keywords`` and MeSH terms (``mesh_terms``)."""
        found: list[str] = []
        for key in SUBJECT_FIELDS:
            value = self.extra.get(key)
            if isinstance(value, str):
                value = [value]
            found += [str(v).strip() for v in value or () if str(v).strip()]
        return tuple(dict.fromkeys(found))

    @property
    def first_author(self) -> str:
        first = self.authors.split(",")[0].strip()
        return first.split(" ")[0] if first else ""

    @property
    def short_authors(self) -> str:
        """Up to three authors, then ``et al.``"""
        names = [n for n in (a.strip() for a in self.authors.split(",")) if n and not n.startswith("et al")]
        more = len(names) > 3 or "et al" in self.authors
        names = [re.sub(r"\s+et al\.?$", "", n) for n in names[:3]]
        names = [n for n in names if n]
        if not more or not names:
            return ", ".join(names)
        return ", ".join(names) + (" et al." if len(names) == 1 else ", et al.")

    def bibliographic(self) -> dict[str, Any]:
        """The fields every front end shows for a paper: id, type, title, authors, journal, year, doi, pmid, url."""
        return {"id": self.id, "type": self.type, "title": self.title, "authors": self.authors,
                "journal": self.journal, "year": self.year, "doi": self.doi, "pmid": self.pmid, "url": self.link}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "title": self.title,
            "text": self.text,
            "authors": self.authors,
            "journal": self.journal,
            "year": self.year,
            "doi": self.doi,
            "pmid": self.pmid,
            "url": self.link,
            **{k: v for k, v in self.extra.items()},
            "source_ids": list(self.source_ids),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Record":
        core = {"id", "type", "title", "text", "authors", "journal", "year", "doi", "pmid", "url", "source_ids"}
        return cls(
            id=data["id"],
            type=data["type"],
            title=data["title"],
            text=data.get("text") or "",
            authors=data.get("authors") or "",
            journal=data.get("journal") or "",
            year=data.get("year"),
            doi=data.get("doi"),
            pmid=data.get("pmid"),
            url=data.get("url"),
            extra={k: v for k, v in data.items() if k not in core},
            source_ids=tuple(data.get("source_ids") or (data["id"],)),
        )


@dataclass(frozen=True)
class Passage:
    """A piece of a record small enough for the encoder: the title, or the title plus a window of sentences.

    ``start`` and ``end`` locate ``body`` inside the record's text (``-1`` for the title-only passage), so any
    quote taken from a passage is verbatim source text. A title-only passage also carries its record's subject
    terms (``subjects``): for a paper known by its title alone, they are most of what says what it is about. A
    passage of a full text lies inside one ``section`` and starts on ``page`` (PDFs).
    """

    record_id: str
    ordinal: int
    title: str
    body: str
    start: int = -1
    end: int = -1
    subjects: str = ""
    section: str = ""
    page: int | None = None

    @property
    def text(self) -> str:
        """What the encoder reads."""
        if not self.body:
            return f"{self.title.rstrip('.')}. {self.subjects}" if self.subjects else self.title
        return f"{self.title}. {self.body}" if self.title else self.body

    @property
    def matched_text(self) -> str:
        return self.body or self.title


@dataclass(frozen=True)
class Hit:
    """A ranked record returned by search, with the passage that matched best and its best sentences.

    ``score`` is the ranking score (reciprocal-rank fusion in hybrid mode); ``dense_score`` is the cosine of the
    best passage and ``sparse_score`` its BM25 score, each ``None`` when that side did not run. ``matches`` (the
    passage's sentences sharing the most ``terms`` with the query) is worked out on first use: analysing every
    sentence of every hit costs more than the search itself, and many callers never read them.
    """

    rank: int
    score: float
    record: Record
    passage: Passage
    dense_score: float | None = None
    sparse_score: float | None = None
    terms: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    others: tuple[Passage, ...] = field(default=(), repr=False, compare=False)  # a full text's next-best passages

    @property
    def passages(self) -> tuple[Passage, ...]:
        """The passages an answer may quote from: the best one, then (for a full text) the next closest."""
        return (self.passage, *self.others)

    @cached_property
    def matches(self) -> tuple[str, ...]:
        from .matching import best_sentences
        return best_sentences(self.passage, self.terms) if self.terms else ()

    def to_dict(self) -> dict[str, Any]:
        def rounded(x):
            return None if x is None else round(float(x), 4)
        return {"rank": self.rank, "score": rounded(self.score), **self.record.bibliographic(),
                "text": self.passage.matched_text, "section": self.passage.section or None,
                "page": self.passage.page, "matches": list(self.matches),
                "dense_score": rounded(self.dense_score), "sparse_score": rounded(self.sparse_score)}


EVIDENCE_KINDS = ("abstract", "full_text", "title")


@dataclass(frozen=True)
class Citation:
    """A numbered reference in an answer; ``quote`` is the verbatim source text behind it.

    ``evidence`` says what the quote is: an ``abstract`` sentence, a ``full_text`` sentence, or the ``title`` of a
    paper known by its title only (such papers are listed as related, never written as findings). ``relevance``
    scores the quote against the question and ``support`` the claim against the quote (``None`` where not judged).
    """

    n: int
    record: Record
    quote: str
    evidence: str = "abstract"
    relevance: float | None = None
    support: float | None = None
    quotes: tuple[str, ...] = ()  # every quote behind a sentence citing [n] when more than one does; see all_quotes

    @property
    def all_quotes(self) -> tuple[str, ...]:
        """Every verbatim sentence behind the answer's sentences that cite this source (at least ``quote``)."""
        return tuple(dict.fromkeys((self.quote, *self.quotes))) if self.quote else self.quotes

    @cached_property
    def part(self) -> Part | None:
        """The part of a full text the quote comes from (``None`` for an abstract or a title)."""
        return self.record.place_of(self.quote)

    @property
    def section(self) -> str:
        """The full-text section the quote comes from ("Results"), or ``""``."""
        return self.part.section if self.part else ""

    @property
    def page(self) -> int | None:
        """The PDF page the quote starts on, or ``None``."""
        return self.part.page if self.part else None

    @property
    def place(self) -> str:
        """Where the quote sits, as a reader would cite it: ``Results, p. 4`` (empty for an abstract)."""
        part = self.part
        if part is None:
            return ""
        section = "" if part.section == "Abstract" and self.evidence == "abstract" else part.section
        return ", ".join(bit for bit in (section, f"p. {part.page}" if part.page else "") if bit)

    def to_dict(self) -> dict[str, Any]:
        def rounded(x):
            return None if x is None else round(float(x), 4)
        return {"n": self.n, **self.record.bibliographic(), "quote": self.quote, "quotes": list(self.all_quotes),
                "evidence": self.evidence, "section": self.section or None, "page": self.page,
                "relevance": rounded(self.relevance), "support": rounded(self.support)}

    def reference_line(self) -> str:
        """``[n] Authors (year). Title. Journal. link``, as printed under an answer."""
        r = self.record
        bits = [f"[{self.n}]"]
        if r.authors:
            bits.append(r.short_authors + (f" ({r.year})." if r.year else ""))
        elif r.year:
            bits.append(f"({r.year}).")
        bits.append(r.title.rstrip(".") + ".")
        if r.journal:
            bits.append(r.journal.rstrip(".") + ".")
        if r.link:
            bits.append(r.link)
        return " ".join(bits)


@dataclass(frozen=True)
class SentenceCheck:
    """What verification found for one answer sentence (text without markers, kept citations).

    Two verdicts, kept apart: ``supported`` (a cited source says it) and ``relevant`` (it bears on the question);
    only a sentence that is both reaches the answer. ``support`` and ``relevance`` are the scores behind them.
    """

    text: str
    cited: tuple[int, ...]
    status: str  # "supported", "attributed" (cited by the verifier), "unsupported", "uncited" or "irrelevant"
    problems: tuple[str, ...] = ()
    supported: bool = False
    relevant: bool = False
    support: float | None = None
    relevance: float | None = None

    def to_dict(self) -> dict[str, Any]:
        def rounded(x):
            return None if x is None else round(float(x), 4)
        return {"text": self.text, "cited": list(self.cited), "status": self.status, "problems": list(self.problems),
                "supported": self.supported, "relevant": self.relevant, "support": rounded(self.support),
                "relevance": rounded(self.relevance)}


@dataclass(frozen=True)
class Answer:
    """A verified answer in one shape for every engine and front end.

    ``bottom_line`` (the one or two sentences that answer most directly) and ``findings`` (one key finding per
    further paper) are sentences ending in ``[n]`` markers that point into ``citations``; ``related`` lists relevant
    papers known by title only (numbered after the citations, never written as findings); ``gaps`` names the
    question's key terms that no listed source mentions; ``basis`` says what the answer rests on. ``text`` is all of
    it rendered as plain text. ``query`` is what was searched (the question rewritten when it was a follow-up);
    ``checks`` is the verifier's sentence-by-sentence report.
    """

    question: str
    text: str
    citations: tuple[Citation, ...] = ()
    refused: bool = False
    reason: str = ""
    hits: tuple[Hit, ...] = ()
    engine: str = "extractive"
    query: str = ""
    checks: tuple[SentenceCheck, ...] = ()
    bottom_line: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()
    related: tuple[Citation, ...] = ()
    gaps: tuple[str, ...] = ()
    basis: str = ""
    scope: str = ""  # the papers a follow-up pointed at ("source 2 of the previous answer (Shin et al., 2017)")

    @property
    def sources(self) -> tuple[Citation, ...]:
        """Everything the answer lists: cited evidence, then related papers."""
        return self.citations + self.related

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "query": self.query or self.question,
            "answer": self.text,
            "refused": self.refused,
            "reason": self.reason,
            "engine": self.engine,
            "bottom_line": list(self.bottom_line),
            "findings": list(self.findings),
            "related": [c.to_dict() for c in self.related],
            "gaps": list(self.gaps),
            "basis": self.basis,
            "scope": self.scope,
            "citations": [c.to_dict() for c in self.citations],
            "checks": [c.to_dict() for c in self.checks],
        }
