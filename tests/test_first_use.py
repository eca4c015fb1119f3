"""The default knowledge base is built from the shipped corpus on first use, once, and says where; a knowledge base
the user named is never built behind their back. Here an installed package is simulated (no checkout beside it);
``tests/test_wheel.py`` checks the real wheel in a fresh virtual environment."""

import threading

import pytest
from click.testing import CliRunner

from conftest import FAKE, SHIPPED

from assistant import config
from assistant.cli import cli
from assistant.errors import IndexMissingError
from assistant.retriever import Retriever


@pytest.fixture
def installed(monkeypatch, tmp_path):
    """As a wheel runs: the corpus is package data and the knowledge base lives in the user's data folder."""
    monkeypatch.setattr(config, "shipped_corpus_dir", lambda: SHIPPED)
    monkeypatch.setattr(config, "default_index_dir", lambda: tmp_path / "data" / "index")
    monkeypatch.setenv("CHECKPOINT_QA_MODEL", FAKE)
    return tmp_path / "data" / "index"


def test_the_first_search_builds_the_default_knowledge_base_once(installed, capfd):
    hits = Retriever.load().search("JAK1 JAK2 loss of function", k=3)
    assert hits and (installed / "CURRENT").is_file()
    said = capfd.readouterr().err
    assert said.count("First use") == 1 and str(installed) in said and "159 papers" in said
    Retriever.load()
    assert "First use" not in capfd.readouterr().err  # built once


def test_two_processes_starting_together_build_once(installed, capfd):
    from assistant.config import load_settings
    from assistant.pipeline import ensure_default_knowledge_base
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(ensure_default_knowledge_base(load_settings())))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r is not None for r in reports) == 1
    assert capfd.readouterr().err.count("First use") == 1
    assert len([v for v in installed.iterdir() if v.name.startswith("v-")]) == 1


def test_the_cli_builds_on_first_use_and_a_named_index_is_never_built(installed, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["search", "B2M loss", "-k", "2"])
    assert result.exit_code == 0, result.output
    assert "First use" in result.output and str(installed) in result.output
    result = runner.invoke(cli, ["search", "B2M loss", "--index", str(tmp_path / "mine")])
    assert result.exit_code != 0 and "no knowledge base at" in str(result.exception)
    assert not (tmp_path / "mine").exists()
    with pytest.raises(IndexMissingError):
        Retriever.load(index_dir=tmp_path / "mine")
