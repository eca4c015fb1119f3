"""Shared fixtures: isolated settings, the shipped corpus, and knowledge bases built once per session.

The fast path uses the deterministic ``hash:256`` encoder; tests marked ``model`` use the packaged MiniLM.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "index" / "corpus"
FAKE = "hash:256"


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch, tmp_path, session_cache):
    """No CHECKPOINT_QA_* or secrets from the developer's shell, and no writes to the real user folders (the
    model cache is shared by the tests of one run, so the local model is de-quantised once)."""
    for key in list(os.environ):
        if key.startswith("CHECKPOINT_QA_") or key in {"OPENAI_API_KEY", "NCBI_API_KEY", "NCBI_EMAIL"}:
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # a closed port: no Ollama unless a test starts one
    monkeypatch.setenv("XDG_CACHE_HOME", str(session_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    rows = [
        {"id": "pmid:1", "type": "abstract", "title": "JAK1 and JAK2 loss-of-function mutations in melanoma",
         "text": "Loss of JAK1 or JAK2 abolishes interferon gamma signalling in tumour cells. Such tumours do not "
                 "upregulate PD-L1 and escape T cell recognition. Patients with these mutations did not respond to "
                 "anti-PD-1 therapy.", "authors": "Shin DS, Zaretsky JM, Ribas A", "journal": "Cancer Discov.",
         "year": 2017, "doi": "10.1000/jak", "pmid": "1"},
        {"id": "pmid:2", "type": "title", "title": "Gut microbiome modulates response to anti-PD-1 immunotherapy",
         "authors": "Gopalakrishnan V, Wargo JA", "journal": "Science", "year": 2018, "pmid": "2",
         "topics": ["gut microbiome"]},
        {"id": "ref:9", "type": "reference_title", "title": "Gut microbiome modulates response to anti-PD-1 "
         "immunotherapy", "authors": "Gopalakrishnan V., Wargo J.A.", "journal": "Science", "year": 2018,
         "pmid": "2", "ref_number": 9},
        {"id": "doi:10.1000/tgf", "type": "title", "title": "TGF-beta attenuates tumour response to PD-L1 blockade",
         "authors": "Mariathasan S", "journal": "Nature", "year": 2018, "doi": "10.1000/tgf"},
        {"id": "doi:10.1000/old", "type": "title", "title": "Steroid use and outcome of PD-1 blockade in lung cancer",
         "authors": "Arbour KC", "journal": "J Clin Oncol", "year": 2015, "doi": "10.1000/old"},
    ]
    return write_jsonl(tmp_path / "corpus" / "papers.jsonl", rows).parent


@pytest.fixture(scope="session")
def shipped_fake_kb(tmp_path_factory) -> Path:
    from assistant.pipeline import build_knowledge_base
    index = tmp_path_factory.mktemp("kb-fake")
    build_knowledge_base(corpus=SHIPPED, index=index, model=FAKE)
    return index


@pytest.fixture(scope="session")
def shipped_minilm_kb(tmp_path_factory) -> Path:
    from assistant.pipeline import build_knowledge_base
    index = tmp_path_factory.mktemp("kb-minilm")
    build_knowledge_base(corpus=SHIPPED, index=index)
    return index


@contextmanager
def served(app):
    """``app`` served by uvicorn on a free loopback port in a thread; yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)

