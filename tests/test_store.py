import json
import os

import numpy as np
import pytest

from assistant.corpus import read_corpus_dir
from assistant.encoders import HashingEncoder
from assistant.errors import IndexMismatchError, IndexMissingError
from assistant.retriever import Retriever
from assistant.kb.store import FORMAT_VERSION, KnowledgeBase, build
from assistant.types import Record
from conftest import write_jsonl


class FailingEncoder(HashingEncoder):
    """Fails on its second batch, like a build interrupted half-way."""

    def encode_batch(self, texts):
        if self.calls >= 1:
            raise RuntimeError("out of memory")
        return super().encode_batch(texts)


def test_build_writes_a_self_describing_index(small_corpus, tmp_path):
    report = build(read_corpus_dir(small_corpus), tmp_path / "kb", HashingEncoder(64))
    assert (report.records, report.unchanged) == (4, False)
    kb = KnowledgeBase.load(tmp_path / "kb")
    m = kb.manifest
    assert m["format_version"] == FORMAT_VERSION and m["model"] == "hash:64" and m["dimension"] == 64
    assert m["records"] == 4 and m["passages"] == len(kb.passages) == kb.vectors.shape[0]
    assert len(m["corpus_hash"]) == 64
    assert np.allclose(np.linalg.norm(kb.vectors, axis=1), 1.0, atol=1e-5)


def test_unchanged_corpus_is_not_re_embedded(small_corpus, tmp_path):
    records = read_corpus_dir(small_corpus)
    first = HashingEncoder(64)
    build(records, tmp_path / "kb", first)
    assert first.texts_encoded > 0
    again = HashingEncoder(64)
    report = build(records, tmp_path / "kb", again)
    assert report.unchanged and again.calls == 0


class PrecisionEncoder(HashingEncoder):
    """A hashing encoder that says it runs at ``precision``, as the real ones do."""

    def __init__(self, dimension, precision):
        super().__init__(dimension)
        self.precision = precision


def test_another_precision_embeds_everything_again(small_corpus, tmp_path):
    records = read_corpus_dir(small_corpus)
    build(records, tmp_path / "kb", PrecisionEncoder(64, "bf16"))
    same = PrecisionEncoder(64, "bf16")
    assert build(records, tmp_path / "kb", same).unchanged and same.calls == 0
    other = PrecisionEncoder(64, "int8")
    report = build(records, tmp_path / "kb", other)
    assert not report.unchanged and (report.embedded, report.reused) == (report.passages, 0)
    assert KnowledgeBase.load(tmp_path / "kb").manifest["precision"] == "int8"


def test_edited_record_embeds_only_its_passages(small_corpus, tmp_path):
    build(read_corpus_dir(small_corpus), tmp_path / "kb", HashingEncoder(64))
    rows = [json.loads(line) for line in (small_corpus / "papers.jsonl").read_text().splitlines()]
    rows[3]["title"] = "TGF-beta attenuates tumour response to PD-L1 blockade by excluding T cells"
    write_jsonl(small_corpus / "papers.jsonl", rows)
    encoder = HashingEncoder(64)
    report = build(read_corpus_dir(small_corpus), tmp_path / "kb", encoder)
    assert (report.embedded, encoder.texts_encoded) == (1, 1)
    assert report.reused == report.passages - 1
    titles = [r.title for r in KnowledgeBase.load(tmp_path / "kb").records]
    assert rows[3]["title"] in titles


def test_failed_build_leaves_previous_index_loadable(small_corpus, tmp_path):
    index = tmp_path / "kb"
    build(read_corpus_dir(small_corpus), index, HashingEncoder(64))
    before = KnowledgeBase.load(index).manifest["corpus_hash"]
    bigger = [{"id": f"n{i}", "type": "title", "title": f"New paper {i} on PD-1"} for i in range(600)]
    write_jsonl(small_corpus / "more.jsonl", bigger)
    with pytest.raises(RuntimeError):
        build(read_corpus_dir(small_corpus), index, FailingEncoder(64))
    kb = KnowledgeBase.load(index)
    assert kb.manifest["corpus_hash"] == before
    retriever = Retriever(kb, HashingEncoder(64))
    assert retriever.search("JAK1 mutations", 2)[0].record.id == "pmid:1"
    assert not [p for p in os.listdir(index) if p.startswith(".building")]


def test_missing_index_names_the_build_command(tmp_path):
    with pytest.raises(IndexMissingError, match=r"build it with: checkpoint-qa build --index"):
        KnowledgeBase.load(tmp_path / "nowhere")


def test_other_format_version_is_refused(small_corpus, tmp_path):
    index = tmp_path / "kb"
    build(read_corpus_dir(small_corpus), index, HashingEncoder(64))
    version = KnowledgeBase.live_version(index)
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["format_version"] = 99  # a format from the future
    (version / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="rebuild with: checkpoint-qa build"):
        KnowledgeBase.load(index)


def test_other_model_is_refused(small_corpus, tmp_path):
    index = tmp_path / "kb"
    build(read_corpus_dir(small_corpus), index, HashingEncoder(64))
    with pytest.raises(IndexMismatchError, match=r"built with model 'hash:64' but 'hash:32'.*--model hash:32"):
        Retriever.load(index, model="hash:32")
    assert Retriever.load(index).encoder.name == "hash:64"  # no model named: the index's own


def test_damaged_index_says_how_to_repair(small_corpus, tmp_path):
    index = tmp_path / "kb"
    build(read_corpus_dir(small_corpus), index, HashingEncoder(64))
    (KnowledgeBase.live_version(index) / "records.jsonl").write_text("{broken", encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="damaged.*checkpoint-qa repair"):
        KnowledgeBase.load(index)


def test_large_knowledge_bases_get_an_ivf_index_tuned_for_recall(tmp_path):
    from assistant.kb.dense_index import TARGET_RECALL, build_dense_index, search as dense_search
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(40, 64))
    vectors = (centres[rng.integers(0, 40, 6000)] + 0.3 * rng.normal(size=(6000, 64))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index, info = build_dense_index(vectors, threshold=5000)
    assert info.kind == "ivf-pq" and info.nlist >= 16 and info.recall_at_10 >= TARGET_RECALL
    queries = (centres[rng.integers(0, 40, 50)] + 0.3 * rng.normal(size=(50, 64))).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    found = 0
    for q in queries:  # fresh queries: re-ranked candidates carry exact cosines and find the exact top 10
        scores, ids = dense_search(index, vectors, q, 10)
        assert np.allclose(scores, vectors[ids] @ q, atol=1e-6) and list(scores) == sorted(scores, reverse=True)
        found += len(set(ids) & set(np.argsort(-(vectors @ q))[:10]))
    assert found / (10 * len(queries)) >= TARGET_RECALL
    flat, flat_info = build_dense_index(vectors[:100], threshold=5000)
    assert flat_info.kind == "flat"
    records = [Record(f"r{i}", "title", f"Paper {i} about PD-1 and T cell {i % 37} signalling") for i in range(1200)]
    build(records, tmp_path / "kb", HashingEncoder(64), ivf_threshold=1000)
    kb = KnowledgeBase.load(tmp_path / "kb")
    assert kb.manifest["dense_index"]["kind"] == "ivf-pq"
    hits = Retriever(kb, HashingEncoder(64)).search("Paper 7 about PD-1 and T cell 7 signalling", k=3, mode="dense")
    assert hits[0].record.id == "r7"


def test_an_older_float32_ivf_index_still_loads_and_searches(tmp_path):
    import faiss
    from assistant.kb.dense_index import load_dense_index, save_dense_index, search as dense_search
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(2000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    old = faiss.IndexIVFFlat(faiss.IndexFlatIP(32), 32, 16, faiss.METRIC_INNER_PRODUCT)
    old.train(vectors)
    old.add(vectors)
    save_dense_index(old, tmp_path / "dense.faiss")
    loaded = load_dense_index(tmp_path / "dense.faiss", {"kind": "ivf", "nlist": 16, "nprobe": 16})
    scores, ids = dense_search(loaded, vectors, vectors[5], 3)
    assert ids[0] == 5 and abs(scores[0] - 1.0) < 1e-5
