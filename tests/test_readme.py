"""The README's library example is executed, so it cannot drift from the code."""

import re

import pytest

from conftest import ROOT


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    assert first_block.splitlines()[0].startswith("make run") and first_block.splitlines()[1].startswith("make test")


@pytest.mark.model
def test_library_example_runs(shipped_minilm_kb, monkeypatch, capsys):
    blocks = python_blocks()
    assert blocks and len(blocks[0].strip().splitlines()) == 4
    monkeypatch.setenv("CHECKPOINT_QA_INDEX", str(shipped_minilm_kb))
    exec(compile(blocks[0], "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and "JAK1/2" in lines[0]


def test_ingest_example_runs(tmp_path, monkeypatch, capsys):
    block = next(b for b in python_blocks() if "ingest" in b)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHECKPOINT_QA_MODEL", "hash:256")
    (tmp_path / "export.xml").write_bytes((ROOT / "tests" / "fixtures" / "pubmed_efetch.xml").read_bytes())
    exec(compile(block, "README.md", "exec"), {})
    assert capsys.readouterr().out.startswith("added 2, updated 0, unchanged 0, removed 0, rejected 0")
