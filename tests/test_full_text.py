"""Real text in (issue 17): PubMed distribution files gzipped in both roots with a deleting update file, JATS full
text with sections, text PDFs with pages, scanned PDFs rejected, folders ingested with a per-file report, and a full
text merged with its PubMed record. Every input is written by the test (``sample_files``)."""

import gzip
import json

import pytest

from assistant.cli import main
from assistant.corpus.detect import read_items
from assistant.corpus.records import Deletion, Rejected
from assistant.encoders import HashingEncoder
from assistant.ingest import ingest
from assistant.kb.passages import split_records
from assistant.kb.store import KnowledgeBase
from assistant.types import Citation, Record
from sample_files import (DISCUSSION_SENTENCE, JATS_DOI, JATS_PMCID, JATS_PMID, JATS_TITLE, PDF_DOI,
                          PDF_PAGE2_SENTENCE, PDF_TITLE, REFERENCE_TITLE, RESULTS_SENTENCE, TABLE_CAPTION,
                          jats_article, pubmed_article, write_article_pdf, write_baseline, write_scanned_pdf)


def records(path, fmt=None):
    return list(read_items(path, fmt))


@pytest.fixture
def jats(tmp_path):
    path = tmp_path / "article.nxml"
    path.write_text(jats_article())
    return path


@pytest.fixture
def mixed_folder(tmp_path, jats):
    folder = tmp_path / "inbox"
    (folder / "pdfs").mkdir(parents=True)
    jats.rename(folder / "article.nxml")
    write_article_pdf(folder / "pdfs" / "paper.pdf")
    write_scanned_pdf(folder / "pdfs" / "scan.pdf")
    write_baseline(folder / "pubmed25n0001.xml.gz", [
        pubmed_article(JATS_PMID, JATS_TITLE, "Some patients relapse after PD-1 blockade.", doi=JATS_DOI, year=2024),
        pubmed_article("31000002", "TIM-3 marks exhausted T cells after PD-1 blockade",
                       "TIM-3 is coexpressed with PD-1 on exhausted T cells.")])
    write_baseline(folder / "pubmed25n0002.xml.gz", [
        pubmed_article("31000003", "LAG-3 blockade restores T cell function", "LAG-3 blockade restores T cells.",
                       bare=True)], bare=True)
    write_baseline(folder / "pubmed25n0003.xml.gz", [], deletions=["31000002"])
    (folder / "notes.txt").write_text("not a format; folders skip it")
    return folder


# -- PubMed distribution files ----------------------------------------------------------------------------------

def test_gzipped_baseline_is_read_as_a_stream_in_both_roots(tmp_path):
    modern = write_baseline(tmp_path / "pubmed25n0001.xml.gz", [pubmed_article("31000001", "A modern record",
                                                                               "Its abstract.", doi="10.1000/m")])
    old = write_baseline(tmp_path / "medline17n0001.xml.gz", [
        pubmed_article(str(31000002 + i), "An old record" if i == 0 else f"Old record {i}", "Old abstract.",
                       bare=True) for i in range(50)], bare=True)
    [a] = records(modern)
    b, *more = records(old)
    assert [r.pmid for r in more] == [str(31000003 + i) for i in range(49)]  # none lost to the parser's read-ahead
    assert (a.pmid, a.doi, a.title, a.text, a.year, a.authors) == ("31000001", "10.1000/m", "A modern record",
                                                                    "Its abstract.", 2020, "Tester A")
    assert (b.pmid, b.title, b.text, b.journal) == ("31000002", "An old record", "Old abstract.", "J Tests")
    assert not list(tmp_path.glob("*.xml")), "nothing is unpacked to disk"


def test_update_file_deletions_and_a_wrong_root():
    from pathlib import Path
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        update = write_baseline(Path(folder) / "pubmed25n1300.xml.gz", [pubmed_article("1", "Kept")],
                                deletions=["31000002", "31000003"])
        items = records(update)
        assert [type(i).__name__ for i in items] == ["Record", "Deletion", "Deletion"]
        assert [i.pmid for i in items if isinstance(i, Deletion)] == ["31000002", "31000003"]
        other = Path(folder) / "other.xml"
        other.write_text("<catalogue><item/></catalogue>")
        [rejected] = records(other)
        assert isinstance(rejected, Rejected) and "root element <catalogue>" in rejected.reason


def test_gzip_limit_is_enforced_on_the_unpacked_bytes(tmp_path, monkeypatch):
    import assistant.limits as limits
    monkeypatch.setitem(limits.MAX_FILE_BYTES, "pubmed-xml", 50_000)
    bomb = tmp_path / "bomb.xml.gz"
    bomb.write_bytes(gzip.compress(b"<PubmedArticleSet>" + b" " * 200_000 + b"</PubmedArticleSet>"))
    assert bomb.stat().st_size < 2_000
    [rejected] = records(bomb)
    assert isinstance(rejected, Rejected) and "once unpacked" in rejected.reason


def test_a_damaged_gzip_file_is_one_rejection(tmp_path):
    broken = tmp_path / "pubmed25n0009.xml.gz"
    broken.write_bytes(gzip.compress(b"<PubmedArticleSet>" + b"<x/>" * 5000)[:300])
    items = records(broken)
    assert items and isinstance(items[-1], Rejected)


# -- JATS --------------------------------------------------------------------------------------------------------

def test_jats_fields_sections_captions_and_what_is_left_out(jats):
    [record] = records(jats)
    assert record.type == "full_text" and record.extra["origin"] == "jats"
    assert (record.title, record.pmid, record.doi, record.pmcid, record.year) == (
        JATS_TITLE, JATS_PMID, JATS_DOI, JATS_PMCID, 2024)
    assert record.authors == "Zaretsky JM, Ribas A"
    assert record.extra["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert record.extra["keywords"] == ["acquired resistance", "JAK1"]
    sections = [p.section for p in record.parts]
    assert sections == ["Abstract", "Introduction", "Methods", "Results", "Table 1", "Discussion"]
    assert record.text[record.parts[3].start:record.parts[3].end].startswith(RESULTS_SENTENCE)
    assert record.text[record.parts[4].start:record.parts[4].end] == TABLE_CAPTION
    for absent in (REFERENCE_TITLE, "We thank the patients", "Funded by", "cell text never indexed", "[1]"):
        assert absent not in record.text
    assert "later progress." in record.text  # the citation marker went, the sentence stayed whole


def test_jats_passages_stay_in_their_section(jats):
    [record] = records(jats)
    passages = split_records([record])
    assert {p.section for p in passages} == {"Abstract", "Introduction", "Methods", "Results", "Table 1",
                                             "Discussion"}
    for p in passages:
        part = record.part_at(p.start)
        assert part.section == p.section and p.end <= part.end
        assert record.text[p.start:p.end] == p.body
    results = next(p for p in passages if RESULTS_SENTENCE in p.body)
    assert results.section == "Results"
    citation = Citation(1, record, DISCUSSION_SENTENCE, "full_text")
    assert (citation.section, citation.place, citation.to_dict()["section"]) == ("Discussion", "Discussion",
                                                                                 "Discussion")


def test_a_publisher_article_set_and_a_file_that_is_not_jats(tmp_path):
    body = jats_article().split("?>", 1)[1].split("]>", 1)[-1]
    article = body[body.index("<article"):]
    second = article.replace(JATS_PMID, "39000002").replace(JATS_PMCID, "PMC9900002").replace(JATS_DOI, "10.9999/x")
    articleset = tmp_path / "set.xml"
    articleset.write_text(f"<pmc-articleset>{article}{second}</pmc-articleset>")
    assert [r.pmid for r in records(articleset)] == [JATS_PMID, "39000002"]
    empty = tmp_path / "abstract-only.nxml"
    empty.write_text(jats_article().replace(jats_article()[jats_article().index("<body>"):
                                                           jats_article().index("</body>") + 7], ""))
    [rejected] = records(empty)
    assert isinstance(rejected, Rejected) and "no body text" in rejected.reason


# -- PDF ---------------------------------------------------------------------------------------------------------

def test_pdf_pages_sections_doi_and_cleaning(tmp_path):
    [record] = records(write_article_pdf(tmp_path / "paper.pdf"))
    assert record.type == "full_text" and record.doi == PDF_DOI and record.title == PDF_TITLE
    assert record.id == f"doi:{PDF_DOI}" and record.extra["page_count"] == 2
    assert "The suppressive myeloid compartment" in record.text  # "suppres-" + "sive" joined
    for absent in ("Journal of Test Immunology", "Page 1", "Page 2", REFERENCE_TITLE, "Another reference",
                   "https://doi.org"):
        assert absent not in record.text
    assert [(p.section, p.page) for p in record.parts] == [("Abstract", 1), ("Introduction", 1), ("Results", 2)]
    passage = next(p for p in split_records([record]) if PDF_PAGE2_SENTENCE in p.body)
    assert (passage.section, passage.page) == ("Results", 2)
    assert Citation(1, record, PDF_PAGE2_SENTENCE, "full_text").place == "Results, p. 2"


def test_scanned_pdf_is_rejected_with_what_to_do(tmp_path):
    [rejected] = records(write_scanned_pdf(tmp_path / "scan.pdf"))
    assert isinstance(rejected, Rejected)
    assert "no text layer" in rejected.reason and "OCR" in rejected.reason


def test_a_sentence_over_a_page_break_belongs_to_its_first_page(tmp_path):
    from sample_files import write_pdf
    lines = ["Results"] + [f"Line {i} of a long paragraph about resistance to checkpoint blockade." for i in range(8)]
    pdf = write_pdf(tmp_path / "break.pdf", [lines + ["The last sentence on page one runs over"],
                                             ["the page break and ends here. A new sentence starts on page two.",
                                              "More text on the second page about PD-1 blockade and LAG-3."]],
                    header="Running header", footer="Page")
    [record] = records(pdf)
    part_one, part_two = record.parts
    assert record.text[part_one.start:part_one.end].endswith("runs over the page break and ends here.")
    assert record.text[part_two.start:part_two.end].startswith("A new sentence starts on page two.")


# -- Merging and ingesting ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("order", ["full text first", "abstract first"])
def test_full_text_and_its_pubmed_record_are_one_paper(tmp_path, jats, order):
    pubmed = write_baseline(tmp_path / "pm.xml.gz", [pubmed_article(JATS_PMID, JATS_TITLE, "A short abstract.",
                                                                    doi=JATS_DOI, year=2024)])
    files = [jats, pubmed] if order == "full text first" else [pubmed, jats]
    for path in files:
        ingest([path], index=tmp_path / "kb", encoder=HashingEncoder(64))
    kb = KnowledgeBase.load(tmp_path / "kb")
    [paper] = kb.records
    assert paper.type == "full_text" and RESULTS_SENTENCE in paper.text
    assert paper.pmid == JATS_PMID and paper.pmcid == JATS_PMCID and paper.journal == "J Tests"  # PubMed's
    assert [p.section for p in paper.parts][:2] == ["Abstract", "Introduction"]
    assert {p.section for p in kb.passages} >= {"Results", "Discussion"}


def test_ingest_folder_reports_each_file(mixed_folder, tmp_path, capsys):
    code = main(["ingest", str(mixed_folder), "--index", str(tmp_path / "kb"), "--model", "hash:64"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = {line.split(":")[0].strip(): line for line in out.splitlines() if line.startswith("  ")}
    assert lines["article.nxml"].endswith("1 added")
    assert lines["paper.pdf"].endswith("1 added")
    assert lines["pubmed25n0001.xml.gz"].endswith("1 added, 1 updated")  # the full text's PubMed record
    assert lines["pubmed25n0002.xml.gz"].endswith("1 added")
    assert lines["pubmed25n0003.xml.gz"].endswith("1 removed")
    assert lines["scan.pdf"].endswith("1 rejected")
    assert "notes.txt" not in out
    assert "rejected: scan.pdf: the PDF has no text layer" in err
    kb = KnowledgeBase.load(tmp_path / "kb")
    assert sorted(r.id for r in kb.records) == sorted([f"doi:{PDF_DOI}", f"pmid:{JATS_PMID}", "pmid:31000003"])


def test_ingest_folder_without_inputs_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["ingest", str(tmp_path / "empty"), "--index", str(tmp_path / "kb")]) == 1
    assert "no files to ingest" in capsys.readouterr().err


@pytest.mark.model
def test_a_question_is_answered_from_the_body_with_its_section(mixed_folder, tmp_path, capsys):
    assert main(["ingest", str(mixed_folder), "--index", str(tmp_path / "kb")]) == 0
    capsys.readouterr()
    assert main(["ask", "Which mutations cause acquired resistance to anti-PD-1 therapy in melanoma?", "--json",
                 "--index", str(tmp_path / "kb")]) == 0
    answer = json.loads(capsys.readouterr().out)
    first = answer["citations"][0]
    assert first["pmid"] == JATS_PMID and first["quote"] == RESULTS_SENTENCE
    assert (first["section"], first["evidence"]) == ("Results", "full_text")
    assert main(["ask", "Does depleting myeloid-derived suppressor cells restore the response to ipilimumab?",
                 "--index", str(tmp_path / "kb")]) == 0
    out = capsys.readouterr().out
    assert PDF_PAGE2_SENTENCE in out and "(full text, Results, p. 2, relevance" in out


# -- Links and authors -------------------------------------------------------------------------------------------

def test_links_are_labelled_by_what_they_are():
    from assistant.render import source_card
    s2 = Record("s2:1", "abstract", "T", "x.", url="https://api.semanticscholar.org/CorpusID:1")
    assert s2.link_label == "Semantic Scholar"
    publisher = Record("t", "title", "T", url="https://www.cell.com/cancer-cell/fulltext/S1535-6108(18)30001-1")
    assert publisher.link_label == "cell.com" or publisher.link_label == "Cell Press"
    pmc = Record("pmcid:PMC1", "full_text", "T", "x.", extra={"pmcid": "PMC123"})
    assert pmc.link == "https://pmc.ncbi.nlm.nih.gov/articles/PMC123/" and pmc.link_label == "PMC123"
    card = source_card(1, s2, "x.")
    assert ">Semantic Scholar</a>" in card and ">link</a>" not in card


def test_et_al_is_never_doubled(tmp_path):
    from conftest import write_jsonl
    path = write_jsonl(tmp_path / "a.jsonl", [{"id": "x", "type": "title", "title": "T", "authors": "Peng et al."}])
    [record] = records(path)
    assert record.authors == "Peng, et al." and record.short_authors == "Peng et al."
    assert Citation(1, record, "T", "title").reference_line().startswith("[1] Peng et al. T.")


def test_a_pdf_showing_another_papers_doi_is_not_merged_into_it(tmp_path):
    from sample_files import write_pdf
    pubmed = write_baseline(tmp_path / "pm.xml.gz", [pubmed_article("31000009", "Tumour mutational burden predicts "
                                                                    "response to CTLA-4 blockade", "Its abstract.",
                                                                    doi=PDF_DOI)])
    lines = ["Macrophages shape the response to PD-L1 blockade in lung cancer", "Results"] + [
        f"Sentence {i} about macrophages and PD-L1 blockade in patients with lung cancer." for i in range(20)]
    pdf = write_pdf(tmp_path / "other.pdf", [lines], first_page_doi=PDF_DOI)  # e.g. a cited paper's DOI
    ingest([pubmed], index=tmp_path / "kb", encoder=HashingEncoder(64))
    report = ingest([pdf], index=tmp_path / "kb", encoder=HashingEncoder(64))
    assert report.added == 1 and report.updated == 0 and "titles that disagree" in report.duplicates[0]
    held = {r.title: r for r in KnowledgeBase.load(tmp_path / "kb").records}
    assert held["Tumour mutational burden predicts response to CTLA-4 blockade"].text == "Its abstract."
    reverse = tmp_path / "kb-reverse"
    ingest([pdf], index=reverse, encoder=HashingEncoder(64))
    assert ingest([pubmed], index=reverse, encoder=HashingEncoder(64)).added == 1
    assert len(KnowledgeBase.load(reverse).records) == 2
