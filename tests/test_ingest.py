"""Ingesting into a knowledge base: upserts, deletions, embedding only what changed, strictness, atomicity."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.encoders import HashingEncoder
from assistant.errors import CorpusError
from assistant.ingest import ingest, remove
from assistant.pipeline import build_knowledge_base
from assistant.retriever import Retriever
from assistant.kb.store import KnowledgeBase
from conftest import FAKE, ROOT, SHIPPED

FIXTURES = Path(__file__).parent / "fixtures"
ALL = [FIXTURES / n for n in ("pubmed_efetch.xml", "medline.nbib", "library.ris", "library.bib", "pubmed.csv")]


def test_ingest_every_format_into_a_new_knowledge_base(tmp_path):
    report = ingest(ALL, index=tmp_path / "kb", encoder=HashingEncoder(64))
    assert report.added == 10 and report.updated == 0 and report.removed == 0
    assert sorted(str(r) for r in report.rejected) == ["library.bib:23: unparseable BibTeX entry",
                                                        "library.ris: record 2: record has no title"]
    kb = KnowledgeBase.load(tmp_path / "kb")
    assert len(kb.records) == 10
    assert "added 10, updated 0, unchanged 0, removed 0, rejected 2" in report.summary()


def test_delete_citation_removes_a_shipped_record(tmp_path):
    build_knowledge_base(corpus=SHIPPED, index=tmp_path / "kb", model=FAKE)
    report = ingest([FIXTURES / "pubmed_efetch.xml"], index=tmp_path / "kb")
    assert report.removed == 1  # PMID 29097493, the Gopalakrishnan 2018 paper
    kb = KnowledgeBase.load(tmp_path / "kb")
    assert all(r.pmid != "29097493" for r in kb.records)
    assert report.updated == 1  # Zaretsky 2016 existed as a title record and gains its abstract
    zaretsky = kb.record("pmid:27433843")
    assert zaretsky.type == "abstract" and zaretsky.extra["topics"]  # shipped fields kept


def test_reingest_embeds_nothing_and_an_edit_embeds_one_record(tmp_path):
    encoder = HashingEncoder(64)
    ingest(ALL, index=tmp_path / "kb", encoder=encoder)
    calls = encoder.texts_encoded
    report = ingest(ALL, index=tmp_path / "kb", encoder=encoder)
    assert encoder.texts_encoded == calls
    assert (report.added, report.updated, report.unchanged) == (0, 0, 10) and report.build is None
    edited = tmp_path / "edited.ris"
    edited.write_text((FIXTURES / "library.ris").read_text().replace(
        "reduced T-cell infiltration.", "reduced T-cell infiltration in mouse models."))
    report = ingest([edited], index=tmp_path / "kb", encoder=encoder)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 1)
    assert encoder.texts_encoded - calls == 1 and report.build.embedded == 1
    assert "mouse models" in KnowledgeBase.load(tmp_path / "kb").record("pmid:26645196").text


def test_strict_stops_at_the_first_bad_record_and_changes_nothing(tmp_path):
    ingest([FIXTURES / "medline.nbib"], index=tmp_path / "kb", encoder=HashingEncoder(64))
    before = KnowledgeBase.load(tmp_path / "kb").manifest["corpus_hash"]
    with pytest.raises(CorpusError, match=r"library\.ris: record 2: record has no title \(--strict"):
        ingest([FIXTURES / "pubmed.csv", FIXTURES / "library.ris"], index=tmp_path / "kb", strict=True,
               encoder=HashingEncoder(64))
    assert KnowledgeBase.load(tmp_path / "kb").manifest["corpus_hash"] == before


def test_default_skips_bad_records_and_keeps_the_rest(tmp_path):
    ingest([FIXTURES / "medline.nbib"], index=tmp_path / "kb", encoder=HashingEncoder(64))
    bad = tmp_path / "bad.xml"
    bad.write_text("<PubmedArticleSet><PubmedArticle><MedlineCitation>")
    report = ingest([bad, FIXTURES / "pubmed.csv"], index=tmp_path / "kb", encoder=HashingEncoder(64))
    assert report.added == 2 and len(report.rejected) == 1 and "malformed XML" in str(report.rejected[0])
    ids = {r.id for r in KnowledgeBase.load(tmp_path / "kb").records}
    assert {"pmid:27903500", "pmid:29773717", "pmid:31570880"} <= ids


def test_remove_by_id_pmid_or_doi(tmp_path):
    ingest(ALL, index=tmp_path / "kb", encoder=HashingEncoder(64))
    report = remove(["pmid:27903500", "29773717", "10.1126/science.aan3706", "pmid:1"], index=tmp_path / "kb",
                    encoder=HashingEncoder(64))
    assert report.removed == 3 and [str(r) for r in report.rejected] == ["pmid:1: no such record in the knowledge base"]
    assert len(KnowledgeBase.load(tmp_path / "kb").records) == 7


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_ingest_info_remove(tmp_path, capsys):
    kb = tmp_path / "kb"
    code, out, err = run(capsys, "ingest", *ALL, "--index", kb, "--model", FAKE)
    assert code == 0 and "added 10" in out
    assert "rejected: library.ris: record 2: record has no title" in err
    code, out, _ = run(capsys, "info", "--index", kb, "--json")
    facts = json.loads(out)
    assert facts["records"] == 10 and facts["model"] == FAKE and facts["years"]["min"] == 2015
    assert facts["types"] == {"abstract": 5, "title": 5}
    code, out, _ = run(capsys, "info", "--index", kb)
    assert "records:        10" in out and "model:          hash:256" in out
    code, out, _ = run(capsys, "remove", "pmid:27903500", "--index", kb)
    assert code == 0 and "removed 1" in out


@pytest.mark.parametrize("args, message", [
    (["--strict"], "record has no title (--strict"),
    (["--format", "ris"], None),
])
def test_cli_strict_and_format(tmp_path, capsys, args, message):
    code, out, err = run(capsys, "ingest", FIXTURES / "library.ris", "--index", tmp_path / "kb", "--model", FAKE,
                         *args)
    if message:
        assert code == 1 and err.count("\n") == 1 and message in err
    else:
        assert code == 0 and "added 2" in out


def test_cli_nothing_ingested_is_an_error(tmp_path, capsys):
    empty = tmp_path / "empty.nbib"
    empty.write_text("")
    code, _, err = run(capsys, "ingest", empty, "--index", tmp_path / "kb", "--model", FAKE)
    assert code == 1 and "rejected: empty.nbib: the file is empty" in err and "error: nothing ingested" in err
    code, _, err = run(capsys, "ingest", tmp_path / "missing.ris", "--index", tmp_path / "kb")
    assert code == 1 and "missing.ris: no such file" in err and "Traceback" not in err


SLOW_BUILD = """
import sys, time
from assistant.encoders import HashingEncoder
from assistant.ingest import ingest

class Slow(HashingEncoder):
    def encode_batch(self, texts):
        print("embedding", flush=True)
        time.sleep(0.2)
        return super().encode_batch(texts)

ingest([sys.argv[1]], index=sys.argv[2], encoder=Slow(64))
print("finished", flush=True)
"""


def test_killed_build_leaves_the_previous_index_searchable(tmp_path):
    index = tmp_path / "kb"
    ingest([FIXTURES / "medline.nbib"], index=index, encoder=HashingEncoder(64))
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"id": f"g{i}", "type": "title", "title": f"Generated paper {i} on PD-L1"})
                           + "\n" for i in range(5000)))
    proc = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, str(big), str(index)], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip() == "embedding"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    kb = KnowledgeBase.load(index)
    assert len(kb.records) == 2
    hits = Retriever(kb, HashingEncoder(64)).search("JAK1 JAK2 PD-1 blockade", k=1)
    assert hits[0].record.pmid == "27903500"
    report = ingest([big], index=index, encoder=HashingEncoder(64))  # and the next build still works
    assert report.added == 5000


def test_ingest_with_another_model_is_refused_with_the_rebuild_command(tmp_path, capsys):
    ingest([FIXTURES / "medline.nbib"], index=tmp_path / "kb", model="hash:64")
    code, _, err = run(capsys, "ingest", FIXTURES / "pubmed.csv", "--index", tmp_path / "kb", "--model", "hash:32")
    assert code == 1 and err.count("\n") == 1
    assert "built with model 'hash:64' but 'hash:32'" in err and "checkpoint-qa build --index" in err
    assert len(KnowledgeBase.load(tmp_path / "kb").records) == 2
