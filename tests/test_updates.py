"""PubMed update files applied to a sharded knowledge base as deltas: only new or changed passage texts are
embedded, replaced and deleted papers are tombstoned and never returned, readers see the old or the new version
and nothing else, the results are those of a full rebuild from the final records, and compaction changes none."""

import threading

import numpy as np
import pytest

from conftest import FAKE

from assistant.encoders import get_encoder
from assistant.kb.delta import compact
from assistant.kb.sharded_build import build_sharded
from assistant.kb.sources import newest_versions, parse_file
from assistant.kb.synthetic import generate
from assistant.retriever import Retriever
from assistant.kb.store import KnowledgeBase, passage_key

pytest.importorskip("tantivy")

QUERIES = ["JAK1 loss and resistance to anti-PD-1 therapy in melanoma", "B2M status and PD-L1 blockade",
           "PTEN alterations in renal cell carcinoma", "STK11 KEAP1 lung cancer CTLA-4", "IDO1 expression rose",
           "infiltrating CD8 T cells after combined blockade", "hazard ratio progression-free survival TIGIT"]


@pytest.fixture(scope="module")
def pubmed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pubmed-updates")
    layout = generate(folder, files=3, per_file=200, updates=3, seed=5)
    results = {f: parse_file(f) for f in layout.baseline + layout.updates}
    return layout, results


def final_records(layout, results, updates: int):
    return newest_versions([results[f] for f in layout.baseline + layout.updates[:updates]]).records


def ranked(retriever, mode, queries=QUERIES):
    """Each query's top 10 papers, ordered by score and then id: papers whose scores agree to 5 decimals are a tie
    that row order breaks, and a delta's rows are not a rebuild's."""
    def key(hit):
        score = hit.dense_score if mode == "dense" else hit.sparse_score if mode == "sparse" else hit.score
        return -round(score, 5), hit.record.id
    return [[h.record.id for h in sorted(retriever.search(q, 10, mode=mode), key=key)] for q in queries]


@pytest.mark.parametrize("ivf_threshold", [10_000, 300], ids=["exact", "ivf"])
def test_updates_apply_as_deltas_with_the_results_of_a_full_rebuild(pubmed, tmp_path, ivf_threshold):
    layout, results = pubmed
    encoder = get_encoder(FAKE)
    index = tmp_path / "kb"
    build_sharded(final_records(layout, results, 0), index, encoder, shard_records=100, ivf_threshold=ivf_threshold)
    reader = Retriever.load(index)
    errors, stop = [], threading.Event()

    def read() -> None:  # a server answering throughout the updates
        while not stop.is_set():
            try:
                reader.refresh()
                assert reader.search(QUERIES[0], 5)
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for u in (1, 2, 3):
            before = KnowledgeBase.load(index)
            known = {passage_key(p) for p in before.passages}
            del before
            papers = final_records(layout, results, u)
            report = build_sharded(papers, index, encoder, shard_records=100, ivf_threshold=ivf_threshold)
            kb = KnowledgeBase.load(index)
            assert kb.manifest.get("delta_of") and kb.manifest["updates_since_compaction"] == u
            fresh = {passage_key(p) for p in kb.passages} - known
            assert report.embedded == len(fresh) > 0  # exactly the new or changed passage texts
            assert report.records == len(papers) == len(list(kb.records))
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[:3]

    kb = KnowledgeBase.load(index)
    deleted = {pmid for f in layout.updates for pmid in results[f].deletions} - {r.pmid for r in papers}
    assert deleted and not deleted & {r.pmid for r in kb.records}
    assert all(kb.find(f"pmid:{pmid}") is None for pmid in deleted)
    delta = Retriever(kb, encoder)
    for query in QUERIES:
        for mode in ("dense", "sparse", "hybrid"):
            assert not {h.record.pmid for h in delta.search(query, 50, mode=mode)} & deleted

    build_sharded(papers, tmp_path / "full", encoder, shard_records=100, ivf_threshold=ivf_threshold)
    full = Retriever.load(tmp_path / "full")
    if ivf_threshold > 1000:  # exact dense search: the same ranking as a rebuild, paper for paper
        assert ranked(delta, "dense") == ranked(full, "dense")
    sparse_agree = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ranked(delta, "sparse"), ranked(full,
                                                                                                  "sparse"))])
    assert sparse_agree >= 0.9  # BM25 statistics still count dead passages until compaction

    before = {mode: ranked(delta, mode) for mode in ("dense", "sparse")}
    del kb, delta  # nothing here holds the delta version any more, so compaction may sweep it
    reader = None
    report = compact(index, encoder)
    compacted = Retriever.load(index)
    assert not compacted.kb.manifest.get("dead_records") and report.embedded == 0
    assert len([v for v in index.iterdir() if v.name.startswith("v-")]) == 1  # the delta version is swept
    assert compact(index, encoder).unchanged  # nothing left to fold
    assert len(compacted.kb.records) == len(papers)
    assert ranked(compacted, "dense") == before["dense"]  # the same codes and nprobe: no dense result changes
    assert ranked(compacted, "sparse") == ranked(full, "sparse")  # clean BM25 statistics: a rebuild's ranking
