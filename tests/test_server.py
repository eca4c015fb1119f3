"""HTTP API: every endpoint, validation errors, streaming, and 50 concurrent searches over 127.0.0.1."""

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from assistant import Answerer, Retriever, load_settings
from assistant.pipeline import build_knowledge_base
from assistant.server import create_api
from conftest import FAKE, SHIPPED, served


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    index = tmp_path_factory.mktemp("kb-api")
    build_knowledge_base(corpus=SHIPPED, index=index, model=FAKE)
    answerer = Answerer(Retriever.load(index), load_settings({"min_score": 0.3}))
    return create_api(answerer)


@pytest.fixture(scope="module")
def client(api):
    return TestClient(api)


def test_health(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["records"] == 159 and body["model"] == FAKE


def test_search_returns_hits_like_the_cli(client):
    response = client.post("/search", json={"query": "gut microbiome anti-PD-1", "k": 3,
                                            "filters": {"year_min": 2018}})
    assert response.status_code == 200
    hits = response.json()["hits"]
    assert len(hits) == 3 and all(h["year"] >= 2018 for h in hits)
    assert {"rank", "score", "id", "type", "title", "text", "authors", "journal", "year", "doi", "pmid",
            "url"} <= set(hits[0])


def test_ask_json(client):
    answer = client.post("/ask", json={"question": "Is PD-L1 expression associated with the efficacy of PD-1 or PD-L1 inhibitors?"}).json()
    assert answer["refused"] is False and answer["citations"] and answer["engine"] == "extractive"
    refused = client.post("/ask", json={"question": "What is the capital of Australia?"}).json()
    assert refused["refused"] is True and refused["citations"] == []


def test_ask_streams_server_sent_events(client):
    with client.stream("POST", "/ask", json={"question": "Is PD-L1 expression associated with the efficacy of PD-1 or PD-L1 inhibitors?",
                                             "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [block for block in response.iter_text() if block]
    text = "".join(events)
    assert text.count("event: delta") >= 2 and text.count("event: answer") == 1
    final = json.loads(text.split("event: answer\ndata: ")[1].split("\n\n")[0])
    assert final["citations"] and final["refused"] is False


def test_records_endpoint(client):
    record = client.get("/records/pmid:27903500").json()
    assert record["title"] == "Primary Resistance to PD-1 Blockade Mediated by JAK1/2 Mutations"
    missing = client.get("/records/pmid:1")
    assert missing.status_code == 404 and "no record" in missing.json()["detail"]


@pytest.mark.parametrize("body, status", [
    ({"query": ""}, 422),
    ({"query": "   "}, 422),
    ({"query": "PD-1", "k": 0}, 422),
    ({"query": "PD-1", "k": 10000}, 422),
    ({"query": "x" * 100_000}, 413),
    ({"query": "x" * 3000}, 422),
    ({"query": "PD-1", "colour": "red"}, 422),
    ({"query": "PD-1", "filters": {"types": ["poster"]}}, 422),
])
def test_validation_errors(client, body, status):
    response = client.post("/search", json=body)
    assert response.status_code == status
    assert response.json()["detail"]


def test_unknown_engine_and_openapi(client):
    assert client.post("/ask", json={"question": "PD-1", "engine": "gpt"}).status_code == 422
    schema = client.get("/openapi.json").json()
    assert {"/health", "/search", "/ask", "/records/{record_id}"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 404  # no page that loads scripts from a CDN


def test_fifty_concurrent_searches_over_loopback(api):
    with served(api) as url:
        queries = ["JAK1 loss", "gut microbiome", "PTEN", "TGF-beta", "MDSC"] * 10

        def one(q):
            return httpx.post(f"{url}/search", json={"query": q, "k": 5}, timeout=60)

        with ThreadPoolExecutor(max_workers=50) as pool:
            responses = list(pool.map(one, queries))
        assert [r.status_code for r in responses] == [200] * 50
        assert all(len(r.json()["hits"]) == 5 for r in responses)


def test_a_chunked_oversized_body_gets_413_without_being_read_in_full(api):
    """Driven at the ASGI level, where the server sees chunks as they arrive (no Content-Length)."""
    import asyncio
    received, sent = [], []

    async def receive():
        received.append(1)
        return {"type": "http.request", "body": b"x" * 10_000, "more_body": len(received) < 1000}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/search", "raw_path": b"/search", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}
    asyncio.run(api(scope, receive, send))
    assert sent[0]["status"] == 413 and b"over 65536 bytes" in sent[1]["body"]
    assert len(received) == 7  # 70 KB read of 10 MB: reading stopped at the limit


@pytest.mark.parametrize("raw", ['{"query": "PD-1", "k": NaN}', '{"query": "PD-1", "k": Infinity}',
                                 '{"query": "PD-1", "filters": {"year_min": -Infinity}}'])
def test_nan_and_infinity_get_422_not_500(client, raw):
    response = client.post("/search", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"]


def test_oversized_filter_lists_and_echoes_are_refused(client):
    response = client.post("/search", json={"query": "PD-1", "filters": {"mesh": ["Melanoma"] * 51}})
    assert response.status_code == 422
    response = client.post("/search", json={"query": "x" * 3000})
    assert response.status_code == 422 and "x" * 100 not in response.text  # the input is not echoed


def test_a_request_cannot_choose_an_engine_the_operator_did_not_enable(client):
    response = client.post("/ask", json={"question": "JAK1 loss", "engine": "local"})
    assert response.status_code == 403 and "--engines" in response.json()["detail"]


def test_the_server_follows_an_ingest_into_its_knowledge_base(tmp_path):
    from assistant.ingest import ingest
    from conftest import write_jsonl
    index = tmp_path / "kb"
    build_knowledge_base(corpus=SHIPPED, index=index, model=FAKE)
    retriever = Retriever.load(index)
    client = TestClient(create_api(Answerer(retriever, load_settings({}))))
    before = client.get("/health").json()["knowledge_base"]
    retriever.follow(interval=0.05)
    new = write_jsonl(tmp_path / "new.jsonl", [{"id": "new:1", "type": "abstract", "title": "A new paper",
                                                 "text": "LAG-3 upregulation after PD-1 blockade."}])
    ingest([new], index=index)
    for _ in range(200):
        health = client.get("/health")
        assert health.status_code == 200
        if health.json()["knowledge_base"] != before:
            break
        time.sleep(0.05)
    assert health.json()["knowledge_base"] != before and health.json()["records"] == 160
    assert client.get("/records/new:1").status_code == 200
    assert (index / before).is_dir()  # the old version stays while this process may still use it
    ingest([write_jsonl(tmp_path / "more.jsonl", [{"id": "new:2", "type": "title", "title": "Another"}])],
           index=index)
    assert client.get("/health").status_code == 200


def test_several_workers_share_the_port_and_follow_new_versions(small_corpus, tmp_path):
    import json as json_module
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from assistant.ingest import ingest
    from assistant.pipeline import build_knowledge_base
    from conftest import FAKE, write_jsonl
    build_knowledge_base(corpus=small_corpus, index=tmp_path / "kb", model=FAKE)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--workers", "2", "--port", str(port),
                                "--index", str(tmp_path / "kb")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)

    def health() -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            return json_module.loads(response.read())

    try:
        deadline = time.time() + 120
        while True:
            try:
                first = health()
                break
            except OSError:
                assert process.poll() is None and time.time() < deadline, process.stdout.read().decode()
                time.sleep(0.5)
        workers = subprocess.run(["ps", "-o", "pid=", "--ppid", str(process.pid)], capture_output=True,
                                 text=True).stdout.split()
        assert len(workers) >= 2, workers
        write_jsonl(tmp_path / "new.jsonl", [{"id": "new", "type": "abstract", "title": "A new paper",
                                              "text": "STK11 loss predicted resistance to PD-1 blockade."}])
        ingest([tmp_path / "new.jsonl"], index=tmp_path / "kb")
        deadline = time.time() + 30
        seen = set()
        while time.time() < deadline and not (len(seen) == 1 and first["knowledge_base"] not in seen):
            seen = {health()["knowledge_base"] for _ in range(8)}  # requests land on both workers
            time.sleep(0.5)
        assert seen and first["knowledge_base"] not in seen  # every worker moved to the new version
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
