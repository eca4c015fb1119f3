"""Errors that keep data: a broken CURRENT is repaired to the newest intact version (never rebuilt from the shipped
corpus), a read-only or corrupt index gives one line, damaged vectors are caught at load, thresholds are sane
(issue 16, finding 10)."""

import os
import shutil

import numpy as np
import pytest

from assistant import load_settings
from assistant.cli import main
from assistant.errors import AssistantError, ConfigError
from assistant.ingest import ingest
from assistant.pipeline import build_knowledge_base
from assistant.kb.store import CURRENT, KnowledgeBase, versions
from conftest import FAKE, SHIPPED, write_jsonl


@pytest.fixture
def ingested_kb(tmp_path):
    """A knowledge base made by ``ingest`` (no shipped corpus in it), with two versions on disk."""
    index = tmp_path / "kb"
    ingest([write_jsonl(tmp_path / "a.jsonl", [{"id": "mine:1", "type": "abstract", "title": "My paper",
                                                "text": "My own finding about LAG-3."}])], index=index, model=FAKE)
    old = KnowledgeBase.load(index)  # held, so the next ingest keeps this version on disk
    ingest([write_jsonl(tmp_path / "b.jsonl", [{"id": "mine:2", "type": "title", "title": "My second paper"}])],
           index=index, model=FAKE)
    assert len(versions(index)) == 2
    return index, old


def test_a_broken_current_is_repaired_to_the_newest_intact_version(ingested_kb, capsys):
    index, _ = ingested_kb
    newest = versions(index)[0]
    (index / CURRENT).write_text("v-gone\n")
    assert main(["search", "LAG-3", "--index", str(index)]) == 1
    err = capsys.readouterr().err
    assert "checkpoint-qa repair" in err and "build" not in err and "Traceback" not in err
    assert main(["repair", "--index", str(index)]) == 0
    assert f"switched to {newest.name}" in capsys.readouterr().out
    kb = KnowledgeBase.load(index)
    assert {r.id for r in kb.records} == {"mine:1", "mine:2"}  # the user's records, not the shipped corpus


def test_repair_passes_over_a_damaged_newest_version(ingested_kb, capsys):
    index, _ = ingested_kb
    newest, older = versions(index)
    vectors = np.load(newest / "vectors.npy")
    vectors[0] = 0.0  # zeroed vectors
    np.save(newest / "vectors.npy", vectors)
    with pytest.raises(AssistantError, match="not a unit vector.*repair"):
        KnowledgeBase.load(index)
    assert main(["repair", "--index", str(index)]) == 0
    captured = capsys.readouterr()
    assert f"switched to {older.name}" in captured.out and "not a unit vector" in captured.err
    assert {r.id for r in KnowledgeBase.load(index).records} == {"mine:1"}


@pytest.mark.parametrize("damage", ["nan", "shape", "faiss", "records"])
def test_damaged_files_give_one_line(tmp_path, damage, capsys):
    index = tmp_path / "kb"
    build_knowledge_base(corpus=SHIPPED, index=index, model=FAKE)
    version = versions(index)[0]
    if damage == "nan":
        vectors = np.load(version / "vectors.npy")
        vectors[3, 5] = np.nan
        np.save(version / "vectors.npy", vectors)
    elif damage == "shape":
        np.save(version / "vectors.npy", np.load(version / "vectors.npy")[:-1])
    elif damage == "faiss":
        (version / "dense.faiss").write_bytes(b"not a faiss index")
    else:
        (version / "records.jsonl").write_text('{"id": "broken"\n')
    assert main(["search", "PD-1 resistance", "--index", str(index)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and "Traceback" not in err and "repair" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_read_only_index_gives_one_line(tmp_path, capsys):
    index = tmp_path / "kb"
    build_knowledge_base(corpus=SHIPPED, index=index, model=FAKE)
    new = write_jsonl(tmp_path / "n.jsonl", [{"id": "n", "type": "title", "title": "New"}])
    for path in [index, *index.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        for argv in (["ingest", str(new)], ["remove", "pmid:27903500"], ["build", "--corpus", str(SHIPPED)]):
            assert main([*argv, "--index", str(index)]) == 1
            err = capsys.readouterr().err
            assert "cannot write" in err and "Traceback" not in err
    finally:
        for path in [index, *index.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_a_read_only_index_gives_one_line_even_as_root(tmp_path, capsys, monkeypatch):
    """Root ignores permissions, so the failure is injected where the disk would refuse the write."""
    index = tmp_path / "kb"
    build_knowledge_base(corpus=SHIPPED, index=index, model=FAKE)
    real_mkdir = os.mkdir

    def refuse(path, *args, **kwargs):
        if ".building-" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", refuse)
    new = write_jsonl(tmp_path / "n.jsonl", [{"id": "n", "type": "title", "title": "New"}])
    assert main(["ingest", str(new), "--index", str(index)]) == 1
    err = capsys.readouterr().err
    assert "cannot write" in err and "Permission denied" in err and "Traceback" not in err
    assert len(KnowledgeBase.load(index).records) == 159


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "1.5"])
def test_the_refusal_threshold_must_be_sane(value, capsys):
    with pytest.raises(ConfigError, match="min_score"):
        load_settings({"min_score": value})
    assert main(["ask", "PD-1", "--min-score", value]) == 1
    assert "min_score" in capsys.readouterr().err


def test_rebuild_hint_is_given_only_where_nothing_would_be_lost(tmp_path):
    with pytest.raises(AssistantError, match="build it with"):
        KnowledgeBase.load(tmp_path / "empty")
    shutil.rmtree(tmp_path / "empty", ignore_errors=True)
