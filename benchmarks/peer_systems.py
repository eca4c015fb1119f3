"""One system, one run: load the model, build an index of the given abstracts, answer the given queries.

Run by ``compare_peers.py`` in a fresh process per run, with the product's environment for ``checkpoint-qa`` and
the separate peers' environment for ``langchain``, ``llamaindex`` and ``txtai``, so no library is imported into a
process it is not measured in. Every system gets the same abstracts (title + abstract as one text, which is how
each peer indexes a document by default), the same all-MiniLM-L6-v2 folder and the same queries; each peer runs in
its documented default configuration on the CPU. Timed: the build (embedding and indexing, model already loaded)
and each query (encoding plus top-10 search, one at a time, after warm-up queries).

    python benchmarks/peer_systems.py SYSTEM DATA.json OUT.json
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
K = 10


def checkpoint_qa(data: dict, workdir: Path, precision: str = "auto"):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from assistant import __version__
    from assistant.config import load_settings
    from assistant.encoders import get_encoder, get_query_encoder
    from assistant.retriever import Retriever
    from assistant.kb.store import build
    from assistant.types import Record

    records = [Record(id=d["id"], type="abstract", title=d["title"], text=d["text"], source_ids=(d["id"],))
               for d in data["docs"]]
    started = time.perf_counter()
    encoder = get_encoder(data["model"], precision)
    encoder.dimension  # load the model
    get_query_encoder(data["model"]).dimension
    loaded = time.perf_counter()
    report = build(records, workdir / "kb", encoder)
    built = time.perf_counter()
    retriever = Retriever.load(settings=load_settings({"index": workdir / "kb", "model": data["model"]}))
    mode = data.get("mode", "hybrid")
    texts = [f"{p.title}. {p.body}" if p.body else p.title for p in retriever.kb.passages]

    def query(text: str) -> list[str]:
        return [h.record.id for h in retriever.search(text, k=K, mode=mode)]

    info = {"version": __version__, "precision": encoder.precision, "document_encoder": encoder.backend,
            "query_encoder": retriever.encoder.backend, "passages": report.passages, "mode": mode}
    return loaded - started, built - loaded, query, texts, info


def langchain(data: dict, workdir: Path):
    from importlib.metadata import version
    from langchain_community.vectorstores import FAISS
    from langchain_huggingface import HuggingFaceEmbeddings

    started = time.perf_counter()
    embeddings = HuggingFaceEmbeddings(model_name=data["model_path"], model_kwargs={"device": "cpu"},
                                       encode_kwargs={"normalize_embeddings": True})
    embeddings.embed_query("warm up")
    loaded = time.perf_counter()
    texts = [f"{d['title']}. {d['text']}" for d in data["docs"]]
    store = FAISS.from_texts(texts, embeddings, metadatas=[{"id": d["id"]} for d in data["docs"]])
    built = time.perf_counter()

    def query(text: str) -> list[str]:
        return [doc.metadata["id"] for doc in store.similarity_search(text, k=K)]

    return loaded - started, built - loaded, query, texts, {"version": version("langchain-community")}


def llamaindex(data: dict, workdir: Path):
    from importlib.metadata import version
    from llama_index.core import Document, Settings, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    started = time.perf_counter()
    Settings.llm = None
    Settings.embed_model = HuggingFaceEmbedding(model_name=data["model_path"], device="cpu")
    Settings.embed_model.get_query_embedding("warm up")
    loaded = time.perf_counter()
    documents = [Document(text=f"{d['title']}. {d['text']}", doc_id=d["id"], metadata={"id": d["id"]})
                 for d in data["docs"]]
    index = VectorStoreIndex.from_documents(documents)
    built = time.perf_counter()
    retriever = index.as_retriever(similarity_top_k=K)

    def query(text: str) -> list[str]:
        return [node.node.metadata["id"] for node in retriever.retrieve(text)]

    texts = [d.text for d in documents]
    return loaded - started, built - loaded, query, texts, {"version": version("llama-index-core")}


def txtai(data: dict, workdir: Path):
    from importlib.metadata import version
    from txtai import Embeddings

    started = time.perf_counter()
    embeddings = Embeddings(path=data["model_path"], content=False)
    loaded = time.perf_counter()  # txtai loads the model when it first indexes; that load is inside its build
    texts = [f"{d['title']}. {d['text']}" for d in data["docs"]]
    embeddings.index([(d["id"], text, None) for d, text in zip(data["docs"], texts)])
    built = time.perf_counter()

    def query(text: str) -> list[str]:
        return [str(row[0]) for row in embeddings.search(text, K)]

    return loaded - started, built - loaded, query, texts, {"version": version("txtai")}


SYSTEMS = {"checkpoint-qa": checkpoint_qa,
           "checkpoint-qa-bf16": lambda data, workdir: checkpoint_qa(data, workdir, "bf16"),
           "langchain": langchain, "llamaindex": llamaindex, "txtai": txtai}


def main() -> None:
    system, data_path, out_path = sys.argv[1:4]
    data = json.loads(Path(data_path).read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        load_s, build_s, query, texts, info = SYSTEMS[system](data, Path(tmp))
        for text in data["warmup"]:
            query(text)
        times, rankings = [], {}
        for qid, text in data["queries"]:
            started = time.perf_counter()
            rankings[qid] = query(text)
            times.append(time.perf_counter() - started)
    Path(out_path).write_text(json.dumps({"system": system, "load_s": load_s, "build_s": build_s,
                                          "query_s": times, "rankings": rankings, "texts": texts, **info}),
                              encoding="utf-8")


if __name__ == "__main__":
    main()
