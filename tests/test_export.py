"""Exports import cleanly (issue 18): BibTeX and RIS of a conversation with accented, many-author and title-only
records parse back with bibtexparser and rispy to the same authors, title, year, DOI and PMID."""

import bibtexparser
import rispy

from assistant.corpus.records import normalise_authors
from assistant.export import author_names, export, to_bibtex, to_ris
from assistant.types import Citation, Record

MANY = ", ".join(f"Author{i} {'AB'[i % 2]}" for i in range(14))
RECORDS = [
    Record("pmid:26541610", "abstract", "Anticancer immunotherapy by CTLA-4 blockade relies on the gut microbiota",
           "Text.", normalise_authors("Vétizou M, Pitt JM, Daillère R, et al."), "Science", 2015,
           "10.1126/science.aad1329", "26541610"),
    Record("pmid:29097493", "abstract", "Gut microbiome modulates response to anti-PD-1 immunotherapy", "Text.",
           normalise_authors(MANY), "Science", 2018, "10.1126/science.aan4236", "29097493"),
    Record("title:abc", "title", "Primary, adaptive, and acquired resistance to cancer immunotherapy"),
    Record("doi:10.1/x", "title", "A consortium paper", authors="Cancer Genome Atlas Network", year=2012,
           doi="10.1000/tcga.1"),
]
CITED = [Citation(n, r, r.title, "title") for n, r in enumerate(RECORDS, start=1)]


def test_names_become_surname_and_initials():
    names, incomplete = author_names(RECORDS[0])
    assert names[:2] == [("Vétizou", "M."), ("Pitt", "J. M.")] and incomplete
    assert author_names(Record("x", "title", "T", authors="Spencer C.N."))[0] == [("Spencer", "C. N.")]


def test_bibtex_round_trip():
    text = to_bibtex(CITED + CITED[:1])  # a paper cited by two answers is exported once
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks
    entries = library.entries
    assert [e.key for e in entries] == ["Vetizou2015", "Author2018", "Primary", "Network2012"]
    first = {k: str(v.value) for k, v in ((f.key, f) for f in entries[0].fields)}
    assert first["author"] == "Vétizou, M. and Pitt, J. M. and Daillère, R. and others"
    assert first["title"] == "{Anticancer immunotherapy by CTLA-4 blockade relies on the gut microbiota}"
    assert (first["year"], first["doi"], first["pmid"]) == ("2015", "10.1126/science.aad1329", "26541610")
    many = str(entries[1].fields_dict["author"].value).split(" and ")
    assert len(many) == 14 and many[0] == "Author0, A." and "others" not in many
    assert "author" not in entries[2].fields_dict and entries[2].fields_dict["title"].value.startswith("{Primary")
    assert entries[3].fields_dict["author"].value == "{Cancer Genome Atlas Network}"


def test_ris_round_trip():
    text = to_ris(CITED)
    assert not text.lstrip().startswith("1.") and "\n2.\n" not in text
    entries = rispy.loads(text)
    assert len(entries) == 4
    assert entries[0]["authors"][:3] == ["Vétizou, M.", "Pitt, J. M.", "Daillère, R."]
    assert (entries[0]["title"], entries[0]["year"], entries[0]["doi"], entries[0]["accession_number"]) == (
        RECORDS[0].title, "2015", "10.1126/science.aad1329", "26541610")
    assert len(entries[1]["authors"]) == 14
    assert entries[2]["title"] == RECORDS[2].title and not entries[2].get("authors")
    assert entries[3]["authors"] == ["Cancer Genome Atlas Network"]


def test_markdown_keeps_the_numbered_list():
    text = export(CITED[:2], "markdown", "An answer [1][2].")
    assert text.startswith("An answer [1][2].") and "\n1. Vétizou M, Pitt JM, Daillère R, et al. (2015)." in text
