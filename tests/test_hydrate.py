"""``fetch --hydrate`` against a local server on 127.0.0.1 that answers like E-utilities (ESearch JSON, EFetch
PubMed XML, as recorded): title-only papers gain abstracts and metadata by PMID, DOI or exact title; a title PubMed
does not find, or finds as another paper, is left alone and reported; offline is one line and changes nothing."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from assistant.cli import main
from assistant.kb.store import KnowledgeBase
from conftest import FAKE, write_jsonl
from sample_files import pubmed_article

GUT = ("pmid:29097493", "Gut microbiome modulates response to anti-PD-1 immunotherapy in melanoma patients")
MECHANISMS = ("doi:10.1158/2159-8290.CD-18-0367", "Fundamental Mechanisms of Immune Checkpoint Blockade Therapy")
PRIMARY = ("ref:3", "Primary, Adaptive, and Acquired Resistance to Cancer Immunotherapy")
UNKNOWN = ("ref:9", "A title that PubMed has never heard of")
LOOKALIKE = ("ref:10", "Resistance to checkpoint blockade")

ABSTRACTS = {
    "29097493": (GUT[1] + ".", "Responders to anti-PD-1 had a more diverse gut microbiome.", "10.1126/science.aan4236"),
    "30181123": (MECHANISMS[1] + ".", "Checkpoint blockade releases brakes on T cells.", "10.1158/2159-8290.CD-18-0367"),
    "28187290": ("Primary, adaptive, and acquired resistance to cancer immunotherapy.",
                 "Resistance can be present before treatment or develop after a response.", "10.1016/j.cell.2017.01.017"),
    "31999999": ("Resistance to checkpoint blockade in a mouse model of glioma.", "Another paper entirely.", None),
}
SEARCHES = {'"10.1158/2159-8290.CD-18-0367"[DOI]': ["30181123"],
            f'"{PRIMARY[1]}"[Title]': ["28187290"],
            f'"{UNKNOWN[1]}"[Title]': [],
            f'"{LOOKALIKE[1]}"[Title]': ["31999999"]}


def esearch_json(ids):
    return json.dumps({"header": {"type": "esearch", "version": "0.3"}, "esearchresult": {
        "count": str(len(ids)), "retmax": str(len(ids)), "retstart": "0", "idlist": ids, "translationset": [],
        "querytranslation": ""}}).encode()


def efetch_xml(ids):
    articles = [pubmed_article(pmid, *ABSTRACTS[pmid][:2], doi=ABSTRACTS[pmid][2], year=2018) for pmid in ids
                if pmid in ABSTRACTS]
    return ('<?xml version="1.0" ?>\n<PubmedArticleSet>' + "".join(articles) + "</PubmedArticleSet>").encode()


@pytest.fixture
def eutils(monkeypatch):
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            params = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
            endpoint = self.path.rsplit("/", 1)[-1]
            requests.append((endpoint, params))
            body = (esearch_json(SEARCHES[params["term"]]) if endpoint == "esearch.fcgi"
                    else efetch_xml(params["id"].split(",")))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CHECKPOINT_QA_EUTILS_URL", f"http://127.0.0.1:{server.server_address[1]}/entrez/eutils/")
    monkeypatch.setenv("NCBI_API_KEY", "test-key")  # 10 requests a second
    yield requests
    server.shutdown()
    server.server_close()


@pytest.fixture
def titles_kb(tmp_path, capsys):
    rows = [{"id": GUT[0], "type": "title", "title": GUT[1], "pmid": "29097493", "authors": "Gopalakrishnan V, et al.",
             "topics": ["gut microbiome"]},
            {"id": MECHANISMS[0], "type": "title", "title": MECHANISMS[1], "doi": MECHANISMS[0][4:]},
            {"id": PRIMARY[0], "type": "reference_title", "title": PRIMARY[1], "ref_number": 3},
            {"id": UNKNOWN[0], "type": "title", "title": UNKNOWN[1]},
            {"id": LOOKALIKE[0], "type": "title", "title": LOOKALIKE[1]},
            {"id": "s2:1", "type": "abstract", "title": "An abstract already", "text": "It has text."}]
    write_jsonl(tmp_path / "corpus" / "a.jsonl", rows)
    index = tmp_path / "kb"
    assert main(["build", "--corpus", str(tmp_path / "corpus"), "--index", str(index), "--model", FAKE]) == 0
    capsys.readouterr()
    return index


def test_hydrate_fills_title_only_papers_and_reports_the_rest(eutils, titles_kb, capsys):
    assert main(["fetch", "--hydrate", "--index", str(titles_kb)]) == 0
    out, err = capsys.readouterr()
    assert "looked up 5 title-only papers: 3 filled in from PubMed, 2 not found" in out
    assert f"not found: {UNKNOWN[0]}" in err and "exact title" in err
    assert f"not found: {LOOKALIKE[0]}" in err and "does not match" in err
    papers = {r.id: r for r in KnowledgeBase.load(titles_kb).records}
    gut = papers[GUT[0]]
    assert gut.type == "abstract" and gut.text == ABSTRACTS["29097493"][1] and gut.year == 2018
    assert gut.journal == "J Tests" and gut.doi == "10.1126/science.aan4236"
    assert gut.authors == "Gopalakrishnan V, et al." and gut.extra["topics"] == ["gut microbiome"]  # curated kept
    assert gut.title == GUT[1]  # the curated title, not PubMed's with its full stop
    mechanisms = papers[MECHANISMS[0]]
    assert mechanisms.pmid == "30181123" and mechanisms.text.startswith("Checkpoint blockade")
    primary = papers[PRIMARY[0]]
    assert primary.pmid == "28187290" and primary.extra["ref_number"] == 3 and primary.text
    for ident in (UNKNOWN[0], LOOKALIKE[0]):
        assert papers[ident].text == "" and papers[ident].pmid is None
    assert papers["s2:1"].text == "It has text."
    asked = len(eutils)
    assert main(["fetch", "--hydrate", "--index", str(titles_kb)]) == 0  # the two left: from the cache
    assert "looked up 2 title-only papers: 0 filled in" in capsys.readouterr().out
    assert len(eutils) == asked


def test_hydrate_without_network_is_one_line_and_changes_nothing(titles_kb, capsys, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("CHECKPOINT_QA_EUTILS_URL", f"http://127.0.0.1:{closed}/")
    before = KnowledgeBase.load(titles_kb).version
    assert main(["fetch", "--hydrate", "--index", str(titles_kb)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach PubMed, so nothing changed: 5 papers are still known by title only" in err[0]
    assert KnowledgeBase.load(titles_kb).version == before


def test_fetch_needs_a_query_or_hydrate(titles_kb, capsys):
    assert main(["fetch", "--index", str(titles_kb)]) == 1
    assert "pass either --query" in capsys.readouterr().err


def test_the_chat_button_fills_in_the_same_way(eutils, titles_kb):
    from assistant.answer.answerer import Answerer
    from assistant.retriever import Retriever
    from assistant.ui import ChatBackend
    backend = ChatBackend(Answerer(Retriever.load(titles_kb)))
    report = backend.hydrate()
    assert "3 filled in from PubMed, 2 not found" in report and "not found: ref:9" in report
    assert sum(1 for r in backend.retriever.kb.records if not r.text) == 2  # the chat reads the new version
