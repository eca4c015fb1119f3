"""Identifiers validated at ingestion and escaped again where rendered; exports and terminal output cannot be
injected into (issue 16, finding 8)."""

import json

import pytest

from assistant.cli import main
from assistant.corpus.jsonl import jsonl_items
from assistant.corpus.records import Rejected, make_record
from assistant.export import to_bibtex, to_ris
from assistant.render import answer_markdown, source_card
from assistant.types import Citation, Record
from conftest import write_jsonl

HOSTILE = [
    {"pmid": "1)![x](http://evil.example/track.png"},
    {"pmid": "javascript:alert(1)"},
    {"url": "javascript:alert(document.cookie)"},
    {"url": "data:text/html,<script>alert(1)</script>"},
    {"url": "http://a.example/x)![t](http://evil.example/t.png"},
    {"doi": "not a doi"},
]


@pytest.mark.parametrize("fields", HOSTILE)
def test_hostile_identifiers_are_rejected_at_ingestion(tmp_path, fields):
    assert isinstance(make_record("file.ris: record 1", title="A paper", **fields), Rejected)
    path = write_jsonl(tmp_path / "a.jsonl", [{"id": "x", "type": "title", "title": "A paper", **fields}])
    items = list(jsonl_items(path))
    assert len(items) == 1 and isinstance(items[0], Rejected)


def test_links_are_checked_and_escaped_again_at_render():
    # records as a damaged or hand-edited knowledge base might hold them, bypassing ingestion
    bad = Record("x", "title", "T", pmid="1)![x](http://evil.example/t.png", url="javascript:alert(1)")
    assert bad.link is None
    doi = Record("y", "title", "T", doi="10.1000/a)![x](http://evil.example/t.png")
    assert "(" not in doi.link and ")" not in doi.link and " " not in doi.link
    markdown = answer_markdown("A claim [1].", [Citation(1, doi, "T", "title")])
    assert "](http://evil.example" not in markdown
    card = source_card(1, bad, "T", evidence="title")
    assert "javascript:" not in card and "evil.example" not in card


def test_exports_keep_one_record_per_record():
    record = Record("x", "abstract", "Title\nTY  - JOUR\nTI  - Injected", "Text.", authors="Smith J\nER  - ",
                    journal="J}, note={injected", year=2020)
    ris = to_ris([Citation(1, record, "Text.")])
    assert ris.count("TY  - ") == 1 and ris.count("ER  - ") == 1
    bib = to_bibtex([Citation(1, record, "Text.")])
    import bibtexparser
    parsed = bibtexparser.parse_string(bib)
    assert len(parsed.entries) == 1 and "note" not in parsed.entries[0].fields_dict


def test_terminal_output_has_no_control_characters(tmp_path, capsys):
    from assistant.pipeline import build_knowledge_base
    from conftest import FAKE
    corpus = write_jsonl(tmp_path / "c" / "a.jsonl", [
        {"id": "x", "type": "abstract", "title": "Resistance \x1b]0;pwned\x07\x1b[2J to PD-1 \u202e blockade",
         "text": "PD-1 resistance \x1b[31mred\x1b[0m is common."}])
    build_knowledge_base(corpus=corpus.parent, index=tmp_path / "kb", model=FAKE)
    assert main(["search", "PD-1 resistance", "--index", str(tmp_path / "kb")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out and "Resistance" in out
    assert main(["search", "PD-1 resistance", "--json", "--index", str(tmp_path / "kb")]) == 0
    raw = capsys.readouterr().out
    assert "\x1b" not in raw and "\u202e" not in raw
    assert "\x1b" in json.loads(raw)[0]["title"]  # still the record's text, escaped in JSON
