"""Record identity on ingest: papers are never merged by a guess, never overwritten by a weaker source, never lose a
field, and no record can become a passage of unbounded size (issue 16, findings 1-4)."""

import json
import subprocess
import sys

import pytest

from assistant.corpus.identity import normalise_title, title_key
from assistant.encoders import HashingEncoder
from assistant.errors import CorpusError
from assistant.ingest import apply_changes, ingest
from assistant.limits import MAX_PASSAGE_CHARS, MAX_TEXT_CHARS
from assistant.pipeline import build_knowledge_base
from assistant.retriever import Retriever
from assistant.kb.store import KnowledgeBase
from assistant.types import Record
from conftest import FAKE, ROOT, SHIPPED, write_jsonl


def _pubmed_xml(articles) -> str:
    body = "".join(
        f"<PubmedArticle><MedlineCitation><PMID>{pmid}</PMID><Article><ArticleTitle>{title}</ArticleTitle>"
        f"<Abstract><AbstractText>{text}</AbstractText></Abstract></Article></MedlineCitation></PubmedArticle>"
        for pmid, title, text in articles)
    return f"<?xml version='1.0'?><PubmedArticleSet>{body}</PubmedArticleSet>"


@pytest.fixture
def shipped_kb(tmp_path):
    build_knowledge_base(corpus=SHIPPED, index=tmp_path / "kb", model=FAKE)
    return tmp_path / "kb"


def test_distinct_pmids_with_equal_titles_stay_distinct(tmp_path):
    xml = tmp_path / "letters.xml"
    xml.write_text(_pubmed_xml([("31000001", "Correction.", "A correction to one article."),
                                ("31000002", "Correction.", "A correction to another article."),
                                ("31000003", "In reply.", "The authors reply."),
                                ("31000004", "In Reply", "Other authors reply.")]))
    report = ingest([xml], index=tmp_path / "kb", encoder=HashingEncoder(64))
    assert report.added == 4
    kb = KnowledgeBase.load(tmp_path / "kb")
    assert {r.id for r in kb.records} == {f"pmid:3100000{i}" for i in range(1, 5)}
    assert kb.record("pmid:31000002").text == "A correction to another article."


def test_titles_in_other_scripts_and_greek_letters_stay_distinct(tmp_path):
    titles = ["免疫检查点抑制剂的耐药机制", "肿瘤微环境与免疫治疗", "Механизмы резистентности", "Иммунотерапия рака",
              "α-catenin in melanoma", "β-catenin in melanoma"]
    assert len({title_key(t) for t in titles}) == len(titles)
    assert normalise_title("Ａｎｔｉ–PD-1  Therapy.") == normalise_title("anti pd 1 therapy")  # NFKC, case, punctuation
    ris = tmp_path / "scripts.ris"
    ris.write_text("".join(f"TY  - JOUR\nTI  - {t}\nAB  - Text {i}.\nER  - \n\n" for i, t in enumerate(titles)),
                   encoding="utf-8")
    report = ingest([ris], index=tmp_path / "kb", encoder=HashingEncoder(64))
    assert report.added == 6
    assert len(KnowledgeBase.load(tmp_path / "kb").records) == 6


def test_jsonl_records_with_their_own_ids_are_not_merged_by_title(tmp_path):
    rows = [{"id": "101", "type": "abstract", "title": "Same title", "text": "First paper's abstract."},
            {"id": "202", "type": "abstract", "title": "Same title", "text": "Second paper's abstract."}]
    report = ingest([write_jsonl(tmp_path / "a.jsonl", rows)], index=tmp_path / "kb", encoder=HashingEncoder(64))
    assert report.added == 2 and report.duplicates
    kb = KnowledgeBase.load(tmp_path / "kb")
    assert kb.record("101").text == "First paper's abstract." and kb.record("202").text == "Second paper's abstract."


def test_a_title_only_ris_cannot_alter_a_pubmed_record(shipped_kb, tmp_path):
    before = KnowledgeBase.load(shipped_kb).record("pmid:27903500")
    ris = tmp_path / "spoof.ris"
    ris.write_text(f"TY  - JOUR\nTI  - {before.title}\nAU  - Mallory, Eve\nPY  - 2024\n"
                   "AB  - Nivolumab cures all cancers without exception.\nER  - \n", encoding="utf-8")
    with pytest.raises(CorpusError, match="possible duplicate.*--strict"):
        ingest([ris], index=shipped_kb, strict=True)
    report = ingest([ris], index=shipped_kb)
    assert report.updated == 0 and report.added == 1
    assert any("same title as pmid:27903500" in d for d in report.duplicates)
    kb = KnowledgeBase.load(shipped_kb)
    assert kb.record("pmid:27903500") == before
    spoof = next(r for r in kb.records if "cures all cancers" in r.text)
    assert spoof.id != "pmid:27903500" and spoof.extra["origin"] == "ris"
    assert ingest([ris], index=shipped_kb).unchanged == 1  # the same file again finds its own record


def test_a_sparser_doi_copy_keeps_abstract_pmid_and_id(shipped_kb, tmp_path):
    before = KnowledgeBase.load(shipped_kb).record("pmid:30678257")
    bib = tmp_path / "sparse.bib"
    bib.write_text("@article{seto, title={Mechanisms of Primary and Secondary Resistance}, doi={10.3390/medsci7020014},"
                   " note={sparse copy}}\n", encoding="utf-8")
    report = ingest([bib], index=shipped_kb)
    kb = KnowledgeBase.load(shipped_kb)
    after = kb.record("pmid:30678257")  # the id did not change
    assert after.text == before.text and after.pmid == "30678257" and after.authors == before.authors
    assert after.journal == before.journal and after.title == before.title  # the curated title outranks a file's
    assert report.added == 0 and report.updated <= 1
    assert all(r.doi != "10.3390/medsci7020014" or r.id == "pmid:30678257" for r in kb.records)


def test_a_pubmed_record_fills_a_title_only_record_and_reports_what_changed(shipped_kb, tmp_path):
    xml = tmp_path / "jak.xml"
    xml.write_text(_pubmed_xml([("27903500", "Primary resistance to PD-1 blockade (PubMed's wording)",
                                 "JAK1/2 loss-of-function mutations prevent interferon gamma signalling.")]))
    report = ingest([xml], index=shipped_kb)
    record = KnowledgeBase.load(shipped_kb).record("pmid:27903500")
    assert record.type == "abstract" and record.text.startswith("JAK1/2")
    assert record.title.startswith("Primary Resistance to PD-1 Blockade Mediated by JAK1/2")  # curated title kept
    assert report.updated == 1 and any(c.startswith("pmid:27903500: text") for c in report.changes)


def test_different_pmids_sharing_a_doi_are_not_merged():
    a = Record("pmid:1", "abstract", "A", "Text a.", doi="10.1000/x", pmid="1", source_ids=("pmid:1",))
    b = Record("pmid:2", "abstract", "B", "Text b.", doi="10.1000/X", pmid="2", source_ids=("pmid:2",))
    kept, report = apply_changes([a], [b])
    assert [r.id for r in kept] == ["pmid:1", "pmid:2"] and report.duplicates
    from assistant.corpus.merge import merge_records
    assert len(merge_records([a, b])) == 2


def test_title_links_only_unidentified_records_that_agree_on_year_and_author():
    old = Record(title_key("Gut bacteria"), "title", "Gut bacteria", authors="Smith J", year=2018,
                 source_ids=(title_key("Gut bacteria"),))
    same = Record(title_key("Gut bacteria"), "abstract", "Gut Bacteria.", "An abstract.", authors="Smith John",
                  year=2018)
    other_year = Record(title_key("Gut bacteria"), "title", "Gut bacteria", authors="Smith J", year=2020)
    kept, report = apply_changes([old], [same, other_year])
    assert len(kept) == 2 and report.updated == 1 and report.added == 1
    assert kept[0].id == old.id and kept[0].text == "An abstract."
    assert kept[1].id != old.id and "different years" in report.duplicates[0]


def _peak_rss_mib_of(code: str) -> float:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (pytest, with models loaded)
    script = code + ("\nimport re; print(int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])"
                     " / 1024)")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def test_a_50_mb_record_ingests_in_bounded_passages_with_bounded_memory(tmp_path, capsys):
    huge = tmp_path / "huge.jsonl"
    with huge.open("w") as handle:  # 50 MB without a single sentence break
        handle.write(json.dumps({"id": "huge", "type": "abstract", "title": "A huge record",
                                 "text": "resistance " * (50_000_000 // 11)}) + "\n")
    index = tmp_path / "kb"
    peak = _peak_rss_mib_of(f"from assistant.ingest import ingest; from assistant.encoders import HashingEncoder\n"
                            f"r = ingest([{str(huge)!r}], index={str(index)!r}, encoder=HashingEncoder(64))\n"
                            f"print(r.summary())")
    kb = KnowledgeBase.load(index)
    record = kb.record("huge")
    assert len(record.text) <= MAX_TEXT_CHARS and record.extra["truncated_from"] > 49_000_000
    assert max(len(p.body) for p in kb.passages) <= MAX_PASSAGE_CHARS
    with capsys.disabled():
        print(f"\n50 MB record: {len(kb.passages)} passages, peak resident memory {peak:.0f} MiB")
    assert peak < 2048
    hits = Retriever(kb, HashingEncoder(64)).search("resistance", k=5)
    assert len(json.dumps([h.to_dict() for h in hits])) < 100_000
