import json
import subprocess
import sys

import pytest

from assistant.cli import main
from conftest import FAKE, SHIPPED, write_jsonl


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def kb(small_corpus, tmp_path, capsys):
    index = tmp_path / "kb"
    code, out, _ = run(capsys, "build", "--corpus", str(small_corpus), "--index", str(index), "--model", FAKE)
    assert code == 0 and "4 papers" in out
    return index


def test_build_twice_embeds_nothing_the_second_time(kb, small_corpus, capsys):
    code, out, _ = run(capsys, "build", "--corpus", str(small_corpus), "--index", str(kb), "--model", FAKE)
    assert code == 0 and "up to date" in out and "nothing embedded" in out


def test_search_json_lists_hits_with_the_documented_fields(kb, capsys):
    code, out, _ = run(capsys, "search", "JAK1 JAK2 mutations", "-k", "3", "--json", "--index", str(kb))
    assert code == 0
    hits = json.loads(out)
    assert [h["rank"] for h in hits] == [1, 2, 3]
    for hit in hits:
        assert {"rank", "score", "id", "type", "title", "text", "authors", "journal", "year", "doi", "pmid",
                "url"} <= set(hit)
    assert hits[0]["id"] == "pmid:1"
    assert len({h["id"] for h in hits}) == 3


def test_search_text_output_and_filters(kb, capsys):
    code, out, _ = run(capsys, "search", "PD-1 blockade", "--year-max", "2015", "--index", str(kb))
    assert code == 0 and "Steroid use" in out and "JAK1" not in out


def test_ask_json_has_answer_and_verbatim_quotes(kb, capsys):
    code, out, _ = run(capsys, "ask", "Do JAK1 mutations cause resistance to anti-PD-1 therapy?", "--json",
                       "--min-score", "0.2", "--index", str(kb))
    assert code == 0
    answer = json.loads(out)
    assert answer["refused"] is False and answer["question"].startswith("Do JAK1")
    for c in answer["citations"]:
        assert {"n", "id", "title", "year", "doi", "pmid", "url", "quote"} <= set(c)
        assert c["quote"] in c["title"] or c["quote"] in next(
            json.loads(line)["text"] for line in (kb.parent / "corpus" / "papers.jsonl").read_text().splitlines()
            if json.loads(line)["id"] == c["id"])


def test_ask_refuses_off_topic(kb, capsys):
    code, out, _ = run(capsys, "ask", "What is the capital of Australia?", "--json", "--index", str(kb))
    assert code == 0 and json.loads(out)["refused"] is True


def one_line_error(capsys, *argv, expect: str):
    code, out, err = run(capsys, *argv)
    assert code == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expect in lines[0], lines[0]
    assert "Traceback" not in err
    return lines[0]


def test_bad_corpus_line(tmp_path, capsys):
    corpus = tmp_path / "c"
    write_jsonl(corpus / "a.jsonl", [{"id": "x", "type": "title", "title": "fine"}])
    with (corpus / "a.jsonl").open("a") as handle:
        handle.write("{oops\n")
    one_line_error(capsys, "build", "--corpus", str(corpus), "--index", str(tmp_path / "kb"), "--model", FAKE,
                   expect="a.jsonl:2: not valid JSON")


def test_record_without_title(tmp_path, capsys):
    write_jsonl(tmp_path / "c" / "a.jsonl", [{"id": "x", "type": "title"}])
    one_line_error(capsys, "build", "--corpus", str(tmp_path / "c"), "--index", str(tmp_path / "kb"), "--model",
                   FAKE, expect="a.jsonl:1: record has no 'title'")


def test_empty_corpus(tmp_path, capsys):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.jsonl").write_text("")
    one_line_error(capsys, "build", "--corpus", str(tmp_path / "c"), "--index", str(tmp_path / "kb"), "--model",
                   FAKE, expect="the corpus is empty")


def test_missing_index(tmp_path, capsys):
    line = one_line_error(capsys, "search", "PD-1", "--index", str(tmp_path / "none"), expect="no knowledge base")
    assert f"checkpoint-qa build --index {tmp_path / 'none'}" in line


def test_index_built_with_another_model(kb, capsys):
    one_line_error(capsys, "ask", "PD-1", "--index", str(kb), "--model", "hash:128",
                   expect="built with model 'hash:256'")


def test_unknown_environment_setting(kb, capsys, monkeypatch):
    monkeypatch.setenv("CHECKPOINT_QA_COLOUR", "red")
    one_line_error(capsys, "search", "PD-1", "--index", str(kb), expect="unknown setting CHECKPOINT_QA_COLOUR")


def test_failed_build_keeps_previous_index(kb, small_corpus, tmp_path, capsys):
    with (small_corpus / "papers.jsonl").open("a") as handle:
        handle.write('{"id": "z", "type": "title"}\n')
    one_line_error(capsys, "build", "--corpus", str(small_corpus), "--index", str(kb), "--model", FAKE,
                   expect="record has no 'title'")
    code, out, _ = run(capsys, "search", "JAK1", "--json", "--index", str(kb))
    assert code == 0 and json.loads(out)[0]["id"] == "pmid:1"


@pytest.mark.parametrize("command", ["build", "search", "ask", "chat"])
def test_every_command_help_shows_an_example(command, capsys):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and "Example:" in out and f"checkpoint-qa {command}" in out
    assert "--index" in out


def test_console_script_prints_no_traceback(tmp_path):
    exe = [sys.executable, "-c", "from assistant.cli import run; run()"]
    done = subprocess.run(exe + ["search", "PD-1", "--index", str(tmp_path / "none")], capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: no knowledge base")
    done = subprocess.run(exe + ["search"], capture_output=True, text=True)
    assert done.returncode == 2 and "Missing argument" in done.stderr


def test_shipped_corpus_builds_from_default_flag(tmp_path, capsys):
    code, out, _ = run(capsys, "build", "--corpus", str(SHIPPED), "--index", str(tmp_path / "kb"), "--model", FAKE)
    assert code == 0 and "159 papers" in out
