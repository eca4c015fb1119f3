"""``fetch`` against a local HTTP server on 127.0.0.1 that replays recorded E-utilities answers."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from assistant.cli import main
from assistant.errors import AssistantError
from assistant.fetch import EUtilsClient, download, parse_esearch
from assistant.kb.store import KnowledgeBase
from conftest import FAKE

FIXTURES = Path(__file__).parent / "fixtures"
EFETCH = (FIXTURES / "pubmed_efetch.xml").read_bytes()
ESEARCH_JSON = json.dumps({"header": {"type": "esearch", "version": "0.3"}, "esearchresult": {
    "count": "2", "retmax": "0", "retstart": "0", "querykey": "1", "webenv": "MCID_6543abc", "idlist": [],
    "translationset": [], "querytranslation": "\"pd 1\"[All Fields] AND resistance[All Fields]"}}).encode()
ESEARCH_XML = (b'<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch '
               b'20060628//EN" "https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n<eSearchResult>'
               b'<Count>2</Count><RetMax>0</RetMax><RetStart>0</RetStart><QueryKey>1</QueryKey>'
               b'<WebEnv>MCID_6543abc</WebEnv><IdList></IdList></eSearchResult>')


def one_article(index: int) -> bytes:
    """EFetch answer for one record of the history (retstart=index, retmax=1)."""
    text = EFETCH.decode()
    head, rest = text.split("<PubmedArticle>", 1)
    articles = ["<PubmedArticle>" + a for a in rest.split("<PubmedArticle>")]
    articles[-1] = articles[-1].split("<DeleteCitation>")[0]
    return (head + articles[index] + "</PubmedArticleSet>\n").encode()


class Replay:
    """A scripted E-utilities server: each endpoint answers from a queue of (status, body) pairs."""

    def __init__(self, script):
        self.script = {k: list(v) for k, v in script.items()}
        self.requests = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                params = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                endpoint = self.path.rsplit("/", 1)[-1]
                replay.requests.append((endpoint, params))
                status, body = replay.script[endpoint].pop(0)
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/entrez/eutils/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def replay():
    servers = []

    def start(script):
        servers.append(Replay(script))
        return servers[-1]
    yield start
    for server in servers:
        server.close()


class FakeClock:
    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self):
        return self.now


def test_esearch_answers_in_json_and_xml():
    assert parse_esearch(ESEARCH_JSON) == parse_esearch(ESEARCH_XML)
    assert parse_esearch(ESEARCH_JSON).webenv == "MCID_6543abc"
    with pytest.raises(AssistantError, match="PubMed rejected the query: bad term"):
        parse_esearch(b'{"esearchresult": {"ERROR": "bad term"}}')


def test_fetch_pages_through_history_and_retries_429(replay, tmp_path, capsys, monkeypatch):
    server = replay({"esearch.fcgi": [(200, ESEARCH_XML)],
                     "efetch.fcgi": [(429, b"Too Many Requests"), (200, EFETCH)]})
    monkeypatch.setenv("CHECKPOINT_QA_EUTILS_URL", server.url)
    monkeypatch.setenv("NCBI_EMAIL", "someone@example.org")
    index = tmp_path / "kb"
    code = main(["fetch", "--query", "PD-1 resistance", "--max", "10", "--since", "2020-01-31", "--index",
                 str(index), "--model", FAKE])
    out = capsys.readouterr().out
    assert code == 0 and "added 2" in out
    endpoints = [e for e, _ in server.requests]
    assert endpoints == ["esearch.fcgi", "efetch.fcgi", "efetch.fcgi"]
    search = server.requests[0][1]
    assert search["usehistory"] == "y" and search["term"] == "PD-1 resistance"
    assert (search["mindate"], search["datetype"]) == ("2020/01/31", "edat")
    assert search["email"] == "someone@example.org" and search["tool"] == "checkpoint-qa"
    fetch = server.requests[-1][1]
    assert (fetch["WebEnv"], fetch["query_key"], fetch["retstart"], fetch["retmode"]) == ("MCID_6543abc", "1", "0",
                                                                                          "xml")
    assert {r.pmid for r in KnowledgeBase.load(index).records} == {"27433843", "30000001"}


def test_rate_limit_and_backoff_without_real_waiting(replay, tmp_path):
    server = replay({"esearch.fcgi": [(200, ESEARCH_JSON)],
                     "efetch.fcgi": [(503, b"busy"), (502, b"busy"), (200, one_article(0)), (200, one_article(1))]})
    clock = FakeClock()
    client = EUtilsClient(server.url, api_key="", email="", sleep=clock.sleep, clock=clock, backoff_s=1.0)
    paths = download(client, "PD-1", tmp_path / "cache", max_records=2, batch_size=1)
    assert len(paths) == 2 and client.requests == 5
    backoffs = [s for s in clock.sleeps if s >= 1.0]
    assert backoffs == [1.0, 2.0]  # exponential
    assert all(abs(s - 1 / 3) < 1e-9 for s in clock.sleeps if s < 1.0)  # 3 requests a second without a key
    with_key = EUtilsClient(server.url, api_key="secret")
    assert with_key.interval_s == pytest.approx(0.1)


def test_interrupted_download_resumes_from_the_cache(replay, tmp_path):
    clock = FakeClock()
    failing = replay({"esearch.fcgi": [(200, ESEARCH_JSON)],
                      "efetch.fcgi": [(200, one_article(0))] + [(500, b"oops")] * 3})
    client = EUtilsClient(failing.url, retries=2, sleep=clock.sleep, clock=clock)
    with pytest.raises(AssistantError, match="HTTP 500 to efetch.fcgi after 3 attempt"):
        download(client, "PD-1", tmp_path / "cache", max_records=2, batch_size=1)
    working = replay({"efetch.fcgi": [(200, one_article(1))]})
    client = EUtilsClient(working.url, sleep=clock.sleep, clock=clock)
    paths = download(client, "PD-1", tmp_path / "cache", max_records=2, batch_size=1)
    assert [e for e, _ in working.requests] == ["efetch.fcgi"]  # no new search, only the missing batch
    assert working.requests[0][1]["retstart"] == "1"
    assert b"30000001" in paths[1].read_bytes()


def test_no_network_fails_at_once(tmp_path, capsys, monkeypatch):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connections are refused
    monkeypatch.setenv("CHECKPOINT_QA_EUTILS_URL", f"http://127.0.0.1:{port}/")
    code = main(["fetch", "--query", "PD-1", "--index", str(tmp_path / "kb"), "--model", FAKE])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "cannot reach NCBI E-utilities" in err and "checkpoint-qa ingest FILE" in err
