"""PubMed XML (EFetch output, baseline and update files, gzipped or not), streamed with ``iterparse``.

Two roots are read: ``<PubmedArticleSet>`` (EFetch and the distribution files since 2017) and ``<MedlineCitationSet>``
(the MEDLINE distribution format before it, whose citations carry no ``PubmedData``). Each ``PubmedArticle`` (or
bare ``MedlineCitation``) is turned into a record when its closing tag is read and then cleared from the tree, so
memory stays flat however large the file. ``DeleteCitation`` blocks become deletions. Malformed XML ends the file
with a rejection naming the line and column where the parser stopped; the articles read before it are kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator
from xml.etree import ElementTree as ET

from .records import Deletion, Item, Rejected, join_authors, make_record
from .source import open_bytes
from .xml_stream import closed_elements, malformed


def _text(element) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _authors(article) -> str:
    names = []
    for author in article.iterfind("AuthorList/Author"):
        collective = author.findtext("CollectiveName")
        if collective:
            names.append(collective.strip())
            continue
        last, initials = author.findtext("LastName") or "", author.findtext("Initials") or ""
        if last:
            names.append(f"{last} {initials}".strip())
    return join_authors(names)


def _abstract(article) -> tuple[str, list[dict]]:
    sections = []
    for part in article.iterfind("Abstract/AbstractText"):
        body = _text(part)
        if body:
            sections.append({"label": (part.get("Label") or "").strip(), "text": body})
    text = " ".join(f"{s['label']}: {s['text']}" if s["label"] else s["text"] for s in sections)
    return text, sections if any(s["label"] for s in sections) else []


def _year(article, citation) -> str:
    date = article.find("Journal/JournalIssue/PubDate")
    if date is not None:
        return date.findtext("Year") or date.findtext("MedlineDate") or ""
    return citation.findtext("DateCompleted/Year") or ""


def _article_id(pubmed_article, kind: str) -> str | None:
    if pubmed_article is None:
        return None
    for aid in pubmed_article.iterfind("PubmedData/ArticleIdList/ArticleId"):
        if aid.get("IdType") == kind and aid.text and aid.text.strip():
            return aid.text.strip()
    return None


def _doi(article, pubmed_article) -> str | None:
    found = _article_id(pubmed_article, "doi")
    if found:
        return found
    for loc in article.iterfind("ELocationID"):
        if loc.get("EIdType") == "doi" and loc.text:
            return loc.text.strip()
    return None


def article_record(element, where: str) -> Item:
    """A record from a ``PubmedArticle``, or from a bare ``MedlineCitation`` (``<MedlineCitationSet>`` files)."""
    citation = element if element.tag == "MedlineCitation" else element.find("MedlineCitation")
    pubmed_article = None if element.tag == "MedlineCitation" else element
    if citation is None:
        return Rejected(where, "PubmedArticle without MedlineCitation")
    article = citation.find("Article")
    pmid = (citation.findtext("PMID") or "").strip()
    label = f"{where} (PMID {pmid})" if pmid else where
    if article is None:
        return Rejected(label, "PubmedArticle without Article")
    text, sections = _abstract(article)
    journal = article.findtext("Journal/ISOAbbreviation") or article.findtext("Journal/Title") or ""
    return make_record(
        label,
        title=_text(article.find("ArticleTitle")) or _text(article.find("VernacularTitle")),
        text=text,
        authors=_authors(article),
        journal=journal,
        year=_year(article, citation),
        doi=_doi(article, pubmed_article),
        pmcid=_article_id(pubmed_article, "pmc"),
        pmid=pmid,
        url=f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" if pmid else None,
        sections=sections,
        publication_types=[_text(p) for p in article.iterfind("PublicationTypeList/PublicationType")],
        mesh_terms=[_text(m) for m in citation.iterfind("MeshHeadingList/MeshHeading/DescriptorName")],
        keywords=[_text(k) for k in citation.iterfind("KeywordList/Keyword")],
        language=[_text(lang) for lang in article.iterfind("Language")],
    )


ROOTS = {"PubmedArticleSet", "MedlineCitationSet", "PubmedArticle", "MedlineCitation"}


def read_pubmed_xml(path: Path) -> Iterator[Item]:
    path = Path(path)
    try:
        with open_bytes(path, "pubmed-xml") as handle:
            yield from _articles(handle, path)
    except ET.ParseError as exc:
        yield malformed(path, exc)


def _articles(handle, path: Path) -> Iterator[Item]:
    count = 0
    for root, element, depth in closed_elements(handle):
        if root.tag not in ROOTS:
            yield Rejected(path.name, f"not PubMed XML (root element <{root.tag}>); PubMed files start with "
                                      "<PubmedArticleSet> or <MedlineCitationSet>")
            return
        bare = element.tag == "MedlineCitation" and depth <= 1 and root.tag != "PubmedArticle"
        if element.tag == "PubmedArticle" or bare:
            count += 1
            yield article_record(element, f"{path.name}: article {count}")
            root.clear()
        elif element.tag == "PubmedBookArticle":
            count += 1
            yield Rejected(f"{path.name}: article {count}", "PubMed book records are not supported")
            root.clear()
        elif element.tag == "DeleteCitation":
            for pmid in element.iterfind("PMID"):
                if pmid.text and pmid.text.strip():
                    yield Deletion(pmid.text.strip(), f"{path.name}: DeleteCitation")
            root.clear()
