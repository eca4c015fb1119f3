"""Every supported export format, parsed from real-shaped fixtures, field by field."""

from pathlib import Path

import pytest

from assistant.corpus.detect import detect_format, read_items, sniff
from assistant.corpus.records import Deletion, Rejected
from assistant.types import Record

FIXTURES = Path(__file__).parent / "fixtures"


def parse(name, fmt=None):
    items = list(read_items(FIXTURES / name, fmt))
    return ([i for i in items if isinstance(i, Record)], [i for i in items if isinstance(i, Deletion)],
            [i for i in items if isinstance(i, Rejected)])


def test_pubmed_xml_structured_abstract_and_delete_citation():
    records, deletions, rejected = parse("pubmed_efetch.xml")
    assert not rejected and [d.pmid for d in deletions] == ["29097493"]
    zaretsky, sitc = records
    assert zaretsky.id == "pmid:27433843" and zaretsky.pmid == "27433843"
    assert zaretsky.doi == "10.1056/NEJMoa1604958"
    assert zaretsky.title == "Mutations Associated with Acquired Resistance to PD-1 Blockade in Melanoma."
    assert zaretsky.authors == "Zaretsky JM, Garcia-Diaz A, Ribas A"
    assert (zaretsky.journal, zaretsky.year, zaretsky.type) == ("N Engl J Med", 2016, "abstract")
    assert [s["label"] for s in zaretsky.extra["sections"]] == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert zaretsky.text.startswith("BACKGROUND: Some melanomas relapse")
    assert "RESULTS: Relapsed tumours carried loss-of-function mutations in JAK1, JAK2 or B2M." in zaretsky.text
    assert zaretsky.extra["mesh_terms"] == ["Melanoma", "Janus Kinase 1", "Drug Resistance, Neoplasm"]
    assert zaretsky.extra["keywords"] == ["acquired resistance", "beta-2-microglobulin"]
    assert zaretsky.extra["publication_types"][0] == "Journal Article"
    assert zaretsky.extra["language"] == ["eng"]
    assert zaretsky.link == "https://pubmed.ncbi.nlm.nih.gov/27433843/"
    assert sitc.authors == "SITC Immunotherapy Resistance Taskforce" and sitc.year == 2019
    assert sitc.doi is None and "sections" not in sitc.extra
    assert sitc.extra["publication_types"] == ["Review"]


def test_medline_text():
    records, _, rejected = parse("medline.nbib")
    assert not rejected and len(records) == 2
    shin, skoulidis = records
    assert shin.pmid == "27903500" and shin.doi == "10.1158/2159-8290.CD-16-1223"
    assert shin.title == "Primary Resistance to PD-1 Blockade Mediated by JAK1/2 Mutations."
    assert shin.text.startswith("Loss-of-function mutations in JAK1 or JAK2 can prevent interferon gamma from inducing")
    assert (shin.authors, shin.journal, shin.year) == ("Shin DS, Zaretsky JM, Ribas A", "Cancer Discov", 2017)
    assert shin.extra["mesh_terms"] == ["Animals", "Janus Kinase 2", "Programmed Cell Death 1 Receptor"]
    assert shin.extra["keywords"] == ["JAK1", "interferon gamma"]
    assert skoulidis.title.endswith("KRAS-Mutant Lung Adenocarcinoma.") and skoulidis.type == "title"


def test_ris_with_a_record_without_title():
    records, _, rejected = parse("library.ris")
    assert [str(r) for r in rejected] == ["library.ris: record 2: record has no title"]
    peng, champiat = records
    assert (peng.pmid, peng.doi, peng.year) == ("26645196", "10.1158/2159-8290.CD-15-0283", 2016)
    assert peng.authors == "Peng W, Chen JQ, Hwu P" and peng.journal == "Cancer Discov"
    assert peng.text.startswith("PTEN loss in melanoma") and peng.extra["keywords"] == ["PTEN", "PI3K"]
    assert champiat.id == "doi:10.1158/1078-0432.CCR-16-1741" and champiat.journal == "Clinical Cancer Research"


def test_bibtex_with_latex_and_a_broken_entry():
    records, _, rejected = parse("library.bib")
    assert [str(r) for r in rejected] == ["library.bib:23: unparseable BibTeX entry"]
    spranger, routy = records
    assert spranger.title == "Melanoma-intrinsic β-catenin signalling prevents anti-tumour immunity"
    assert spranger.authors == "Spranger S, Bao R, Gajewski TF"
    assert (spranger.pmid, spranger.doi, spranger.year) == ("25970248", "10.1038/nature14404", 2015)
    assert spranger.extra["keywords"] == ["WNT", "T-cell exclusion"]
    assert routy.title == "Gut microbiome influences efficacy of PD-1-based immunotherapy against epithelial tumors"
    assert routy.id == "doi:10.1126/science.aan3706" and routy.year == 2018


def test_pubmed_csv_export():
    records, _, rejected = parse("pubmed.csv")
    assert not rejected
    kalbasi, tgf = records
    assert (kalbasi.pmid, kalbasi.doi, kalbasi.year) == ("31570880", "10.1038/s41577-019-0218-4", 2020)
    assert kalbasi.authors == "Kalbasi A, Ribas A" and kalbasi.journal == "Nat Rev Immunol"
    assert kalbasi.extra["pmcid"] == "PMC8499690" and kalbasi.type == "title"
    assert tgf.title.startswith("TGFβ attenuates")


@pytest.mark.parametrize("name, fmt", [("pubmed_efetch.xml", "pubmed-xml"), ("medline.nbib", "medline"),
                                       ("library.ris", "ris"), ("library.bib", "bibtex"), ("pubmed.csv", "csv")])
def test_formats_are_detected_from_content_too(name, fmt):
    head = (FIXTURES / name).read_text(encoding="utf-8")[:4096]
    assert sniff(head) == fmt
    assert detect_format(Path("export.txt"), head) == fmt


@pytest.mark.parametrize("content, where, reason", [
    (b"", "x.txt", "the file is empty"),
    (b"   \n", "x.txt", "the file is empty"),
    (b"hello world\n", "x.txt", "unknown format; pass --format"),
])
def test_file_level_problems(tmp_path, content, where, reason):
    path = tmp_path / "x.txt"
    path.write_bytes(content)
    [item] = list(read_items(path))
    assert isinstance(item, Rejected) and item.where == where and item.reason.startswith(reason)


def test_malformed_xml_names_the_line(tmp_path):
    text = (FIXTURES / "pubmed_efetch.xml").read_text().replace("</PubmedArticle>\n<PubmedArticle>",
                                                                "</PubmedArticle>\n<PubmedArticle><broken>", 1)
    path = tmp_path / "bad.xml"
    path.write_text(text)
    items = list(read_items(path))
    assert isinstance(items[0], Record) and items[0].pmid == "27433843"  # read before the break
    assert isinstance(items[-1], Rejected) and "malformed XML" in items[-1].reason
    assert items[-1].where.startswith("bad.xml:") and int(items[-1].where.split(":")[1]) > 10


def test_undecodable_bytes_name_the_line(tmp_path):
    path = tmp_path / "bad.ris"
    path.write_bytes(b"TY  - JOUR\nTI  - Caf\xe9 study\nER  - \n")
    [item] = list(read_items(path))
    assert str(item).startswith("bad.ris:2: bytes that are not UTF-8 (0xe9)")


def test_csv_without_pubmed_columns(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("name,value\na,1\n")
    [item] = list(read_items(path))
    assert str(item).startswith("other.csv:1: not a PubMed CSV export")
