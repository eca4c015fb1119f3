import json

import pytest

from assistant.corpus import merge_records, read_corpus_dir, read_jsonl
from assistant.errors import CorpusError
from conftest import SHIPPED, write_jsonl


def test_shipped_corpus_reads_and_merges_shared_papers():
    records = read_corpus_dir(SHIPPED)
    assert len(records) == 164
    papers = merge_records(records)
    # the five references of the seed review each duplicate a bibliographic record
    assert len(papers) == 159
    dois = [p.doi.lower() for p in papers if p.doi]
    pmids = [p.pmid for p in papers if p.pmid]
    assert len(dois) == len(set(dois)) and len(pmids) == len(set(pmids))


def test_merge_keeps_every_field():
    papers = {p.id: p for p in merge_records(read_corpus_dir(SHIPPED))}
    gut = papers["pmid:29097493"]
    assert set(gut.source_ids) == {"ref:3", "pmid:29097493"}
    assert gut.extra["ref_number"] == 3
    assert gut.extra["topics"] == ["gut microbiome", "melanoma", "anti-PD-1"]
    assert gut.extra["cited_by"] == "10.3390/medsci7020014"
    assert set(gut.extra["merged_types"]) == {"title", "reference_title"}
    assert gut.link == "https://pubmed.ncbi.nlm.nih.gov/29097493/"
    routy = next(p for p in papers.values() if p.doi == "10.1126/science.aan3706")
    assert routy.extra["ref_number"] == 5 and "antibiotics" in routy.extra["topics"]


def test_merge_is_transitive(tmp_path):
    rows = [{"id": "a", "type": "title", "title": "T", "doi": "10.1000/X"},
            {"id": "b", "type": "title", "title": "T", "doi": "10.1000/x", "pmid": "7"},
            {"id": "c", "type": "abstract", "title": "T", "text": "Body.", "pmid": "7"}]
    papers = merge_records(read_jsonl(write_jsonl(tmp_path / "c.jsonl", rows)))
    assert len(papers) == 1
    assert papers[0].text == "Body." and papers[0].type == "abstract" and papers[0].id == "c"


def test_bad_json_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "a", "type": "title", "title": "ok"}) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bad\.jsonl:2: not valid JSON"):
        read_corpus_dir(tmp_path)


@pytest.mark.parametrize("row, message", [
    ({"id": "a", "type": "title"}, "record has no 'title'"),
    ({"id": "a", "type": "title", "title": "   "}, "record has no 'title'"),
    ({"id": "a", "type": "poster", "title": "x"}, "unknown record type 'poster'"),
    ({"id": "a", "type": "title", "title": "x", "colour": "red"}, "unknown field 'colour'"),
    ({"id": "a", "type": "title", "title": "x", "year": "soon"}, "year 'soon' is not a number"),
    (["a"], "expected a JSON object"),
])
def test_invalid_records_are_rejected_with_location(tmp_path, row, message):
    write_jsonl(tmp_path / "c.jsonl", [row])
    with pytest.raises(CorpusError) as info:
        read_corpus_dir(tmp_path)
    assert f"c.jsonl:1: {message}" in str(info.value)
    assert "\n" not in str(info.value)


def test_empty_corpus_and_missing_folder(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="the corpus is empty"):
        read_corpus_dir(tmp_path)
    with pytest.raises(CorpusError, match="no such corpus folder"):
        read_corpus_dir(tmp_path / "missing")
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(CorpusError, match=r"no \*\.jsonl files"):
        read_corpus_dir(tmp_path / "empty-dir")


def test_undecodable_bytes(tmp_path):
    (tmp_path / "latin.jsonl").write_bytes(b'{"id": "a", "type": "title", "title": "caf\xe9"}\n')
    with pytest.raises(CorpusError, match="not UTF-8"):
        read_corpus_dir(tmp_path)


def test_duplicate_ids_of_different_papers_are_an_error(tmp_path):
    rows = [{"id": "x", "type": "title", "title": "A", "doi": "10.1000/a"},
            {"id": "x", "type": "title", "title": "B", "doi": "10.1000/b"}]
    with pytest.raises(CorpusError, match="share the id 'x'"):
        merge_records(read_jsonl(write_jsonl(tmp_path / "c.jsonl", rows)))
