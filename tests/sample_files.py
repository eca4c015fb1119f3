"""Input files the tests (and ``benchmarks/ingest_bench.py``) write themselves: PubMed distribution files in both
roots, gzipped, with an update file that deletes; a JATS full-text article; text PDFs and a scanned-style PDF.

The article text is written for these tests (no third-party text); its PMID/PMCID/DOI are fictitious but well formed.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from xml.sax.saxutils import escape

JATS_PMID, JATS_PMCID, JATS_DOI = "39000001", "PMC9900001", "10.9999/cqa.2024.0001"
JATS_TITLE = "Loss of JAK1 signalling drives acquired resistance to PD-1 blockade in melanoma"
RESULTS_SENTENCE = ("Tumours that relapsed after anti-PD-1 therapy carried truncating JAK1 mutations in 4 of 7 "
                    "patients, and these tumour cells did not upregulate PD-L1 or MHC class I after interferon "
                    "gamma exposure.")
DISCUSSION_SENTENCE = ("Loss of interferon gamma signalling therefore lets melanoma cells escape T cell "
                       "recognition despite continued PD-1 blockade.")
TABLE_CAPTION = "Clinical characteristics of the seven patients with acquired resistance to pembrolizumab."
REFERENCE_TITLE = "A reference list entry that must never be quoted as evidence"


def pubmed_article(pmid: str, title: str, abstract: str = "", doi: str | None = None, year: int = 2020,
                   bare: bool = False) -> str:
    """One ``<PubmedArticle>`` (or, with ``bare``, one ``<MedlineCitation>`` as in pre-2017 files)."""
    abstract_xml = f"<Abstract><AbstractText>{escape(abstract)}</AbstractText></Abstract>" if abstract else ""
    elocation = f'<ELocationID EIdType="doi">{doi}</ELocationID>' if doi else ""
    citation = (f'<MedlineCitation Status="MEDLINE"><PMID Version="1">{pmid}</PMID><Article>'
                f"<Journal><JournalIssue><PubDate><Year>{year}</Year></PubDate></JournalIssue>"
                f"<Title>Journal of Tests</Title><ISOAbbreviation>J Tests</ISOAbbreviation></Journal>"
                f"<ArticleTitle>{escape(title)}</ArticleTitle>{elocation}{abstract_xml}"
                f"<AuthorList><Author><LastName>Tester</LastName><Initials>A</Initials></Author></AuthorList>"
                f"</Article></MedlineCitation>")
    if bare:
        return citation
    ids = f'<ArticleId IdType="pubmed">{pmid}</ArticleId>' + (f'<ArticleId IdType="doi">{doi}</ArticleId>'
                                                              if doi else "")
    return f"<PubmedArticle>{citation}<PubmedData><ArticleIdList>{ids}</ArticleIdList></PubmedData></PubmedArticle>"


def write_baseline(path: Path, articles: list[str], bare: bool = False, deletions: list[str] = ()) -> Path:
    """A gzipped distribution file: ``<PubmedArticleSet>``, or ``<MedlineCitationSet>`` with ``bare``."""
    root = "MedlineCitationSet" if bare else "PubmedArticleSet"
    delete = ("<DeleteCitation>" + "".join(f'<PMID Version="1">{p}</PMID>' for p in deletions)
              + "</DeleteCitation>") if deletions else ""
    body = f'<?xml version="1.0" encoding="utf-8"?>\n<{root}>\n' + "\n".join(articles) + f"\n{delete}</{root}>\n"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(body)
    return path


def synthetic_abstract(i: int) -> str:
    topics = ["JAK1", "B2M", "PTEN", "STK11", "WNT", "TGF-beta", "IDO1", "CD73", "LAG-3", "TIM-3"]
    a, b = topics[i % 10], topics[(i // 10) % 10]
    return (f"We studied {a} and {b} in {100 + i % 400} patients treated with PD-1 blockade. Loss of {a} was "
            f"associated with shorter progression-free survival (hazard ratio {1 + (i % 90) / 100:.2f}). "
            f"Tumours with {b} alterations showed fewer infiltrating CD8 T cells. These results suggest that {a} "
            f"status may predict resistance to immune checkpoint inhibitors.")


def write_large_baseline(path: Path, count: int, start: int = 1) -> Path:
    """A baseline-size gzipped file of ``count`` synthetic articles, written as a stream."""
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=3) as handle:
        handle.write('<?xml version="1.0" encoding="utf-8"?>\n<PubmedArticleSet>\n')
        for i in range(start, start + count):
            handle.write(pubmed_article(str(20_000_000 + i), f"Synthetic study {i} of resistance to PD-1 blockade",
                                        synthetic_abstract(i), doi=f"10.9999/synthetic.{i}") + "\n")
        handle.write("</PubmedArticleSet>\n")
    return path


def jats_article() -> str:
    """A PMC-style JATS article with an abstract, four body sections, a table and a reference list."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Archiving and Interchange DTD v1.3 20210610//EN" "JATS-archivearticle1-3.dtd">
<article xmlns:xlink="http://www.w3.org/1999/xlink" article-type="research-article">
<front>
<journal-meta><journal-title-group><journal-title>Journal of Test Oncology</journal-title></journal-title-group></journal-meta>
<article-meta>
<article-id pub-id-type="pmid">{JATS_PMID}</article-id>
<article-id pub-id-type="pmc">{JATS_PMCID}</article-id>
<article-id pub-id-type="doi">{JATS_DOI}</article-id>
<title-group><article-title>{JATS_TITLE}</article-title></title-group>
<contrib-group>
<contrib contrib-type="author"><name><surname>Zaretsky</surname><given-names>Jesse M</given-names></name></contrib>
<contrib contrib-type="author"><name><surname>Ribas</surname><given-names>Antoni</given-names></name></contrib>
</contrib-group>
<pub-date pub-type="epub"><year>2024</year></pub-date>
<permissions><license xlink:href="https://creativecommons.org/licenses/by/4.0/"><license-p>This article is distributed under CC BY 4.0.</license-p></license></permissions>
<abstract><p>Some patients with melanoma relapse after an initial response to PD-1 blockade. We sequenced paired biopsies to find out why.</p></abstract>
<kwd-group><kwd>acquired resistance</kwd><kwd>JAK1</kwd></kwd-group>
</article-meta>
</front>
<body>
<sec><title>Introduction</title><p>Antibodies against PD-1 produce durable responses in melanoma, but a quarter of responders later progress <xref ref-type="bibr" rid="R1">[1]</xref>.</p></sec>
<sec><title>Methods</title><p>We performed whole-exome sequencing of baseline and relapse biopsies from seven patients.</p></sec>
<sec><title>Results</title>
<p>{RESULTS_SENTENCE} The remaining three relapses showed loss of beta-2-microglobulin.</p>
<table-wrap id="T1"><label>Table 1</label><caption><p>{TABLE_CAPTION}</p></caption><table><tr><td>cell text never indexed</td></tr></table></table-wrap>
</sec>
<sec><title>Discussion</title><p>{DISCUSSION_SENTENCE} Screening relapse biopsies for JAK1 and B2M loss may guide the next line of therapy.</p></sec>
<sec><title>Acknowledgements</title><p>We thank the patients and their families.</p></sec>
</body>
<back>
<ack><p>Funded by a test grant.</p></ack>
<ref-list><title>References</title><ref id="R1"><mixed-citation>{REFERENCE_TITLE}. J Tests. 2016;1:1.</mixed-citation></ref></ref-list>
</back>
</article>
"""


def write_pdf(path: Path, pages: list[list[str]], header: str = "", footer: str = "",
              first_page_doi: str | None = None) -> Path:
    """A text PDF, one list of lines per page, each page with the running ``header`` and a numbered ``footer``."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    sheet = canvas.Canvas(str(path), pagesize=A4)
    width, height = A4
    for number, lines in enumerate(pages, start=1):
        if header:
            sheet.setFont("Helvetica", 8)
            sheet.drawString(72, height - 40, header)
        y = height - 80
        if number == 1 and first_page_doi:
            sheet.setFont("Helvetica", 9)
            sheet.drawString(72, y, f"https://doi.org/{first_page_doi}")
            y -= 20
        sheet.setFont("Helvetica", 11)
        for line in lines:
            sheet.drawString(72, y, line)
            y -= 15
        if footer:
            sheet.setFont("Helvetica", 8)
            sheet.drawString(72, 40, f"{footer} {number}")
        sheet.showPage()
    sheet.save()
    return path


PDF_DOI = "10.9999/cqa.pdf.0002"
PDF_TITLE = "Myeloid-derived suppressor cells limit the response to CTLA-4 blockade"
PDF_PAGE2_SENTENCE = ("Depleting myeloid-derived suppressor cells restored the response to ipilimumab in 6 of 9 "
                      "mice.")


def write_article_pdf(path: Path) -> Path:
    """Two pages with a running header, page footers, a hyphenated line break, and a reference list."""
    return write_pdf(path, [
        [PDF_TITLE, "", "Abstract",
         "Myeloid-derived suppressor cells accumulate in tumours that do not respond to",
         "CTLA-4 blockade. We asked whether removing them restores the response.",
         "Introduction",
         "Ipilimumab benefits a minority of patients with melanoma. The suppres-",
         "sive myeloid compartment is one candidate explanation."],
        ["Results",
         "Depleting myeloid-derived suppressor cells restored the response to ipilimumab in 6 of 9",
         "mice. Untreated controls all progressed.",
         "References",
         "1. A reference list entry that must never be quoted as evidence. J Tests. 2016;1:1.",
         "2. Another reference entry. J Tests. 2017;2:2."],
    ], header="Journal of Test Immunology 2023; 12: 100-110", footer="Page", first_page_doi=PDF_DOI)


def write_scanned_pdf(path: Path) -> Path:
    """A PDF whose page is a picture (a filled rectangle), with no text layer, as a scanner makes."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    sheet = canvas.Canvas(str(path), pagesize=A4)
    sheet.rect(72, 72, 400, 600, fill=1)
    sheet.showPage()
    sheet.save()
    return path
