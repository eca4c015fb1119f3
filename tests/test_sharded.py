"""Sharded knowledge bases (format 3): the same papers and passages as the single-file layout, memory-mapped shards,
a shared IVF quantizer merged shard by shard, a tantivy BM25 side that ranks as bm25s does and whose filters select
what the mask path selects,
unchanged shards reused by hard link, the CLI, and damage reported in one line."""

import json
import os
import random
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import FAKE, SHIPPED

from assistant.kb import store
from assistant.cli import cli
from assistant.corpus import read_corpus_dir
from assistant.kb.dense_index import search as dense_search
from assistant.encoders import get_encoder
from assistant.errors import AssistantError
from assistant.kb.synthetic import records as synthetic_records
from assistant.retriever import Filters, Retriever

pytest.importorskip("tantivy")


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The shipped corpus built both ways, the sharded one in shards of 40 papers."""
    from assistant.kb.sharded_build import build_sharded
    root = tmp_path_factory.mktemp("layouts")
    records, encoder = read_corpus_dir(SHIPPED), get_encoder(FAKE)
    store.build(records, root / "single", encoder)
    build_sharded(records, root / "sharded", encoder, shard_records=40)
    return Retriever.load(root / "single"), Retriever.load(root / "sharded")


def test_a_sharded_version_holds_the_same_papers_passages_and_vectors(both):
    single, sharded = both
    a, b = single.kb, sharded.kb
    assert b.sharded and len(b.manifest["shards"]) == 4
    assert [r.to_dict() for r in b.records] == [r.to_dict() for r in a.records]
    assert list(b.passages) == list(a.passages)
    assert np.array_equal(b.passage_record, a.passage_record)
    assert np.abs(b.vectors[0:len(b.passages)] - np.asarray(a.vectors)).max() < 1e-3  # float16
    rows = np.array([5, 150, 44, 45, 226])
    assert np.array_equal(b.vectors[rows], b.vectors[0:227][rows])
    record = a.records[77]
    assert b.find(record.id) == record and b.by_id.get(record.id) == record
    if record.pmid:
        assert b.find(f"pmid:{record.pmid}") == record
    assert store.describe(b)["records"] == len(a.records) and store.describe(b)["years"] == store.describe(a)["years"]


QUERIES = ["JAK1 JAK2 loss of function", "PD-L1 expression as a biomarker", "gut microbiome and anti-PD-1",
           "B2M mutations and antigen presentation", "TGF-beta and T cell exclusion", "CTLA-4 combination therapy"]


def test_search_agrees_with_the_single_layout(both):
    single, sharded = both
    for query in QUERIES:
        dense = [h.record.id for h in single.search(query, 10, mode="dense")]
        assert [h.record.id for h in sharded.search(query, 10, mode="dense")] == dense  # exact on both sides
    for query in QUERIES:  # tantivy's candidates re-scored as bm25s scores: the same ranking, the same scores
        for mode in ("sparse", "hybrid"):
            ours, theirs = single.search(query, 10, mode=mode), sharded.search(query, 10, mode=mode)
            assert [h.record.id for h in theirs] == [h.record.id for h in ours]
            assert [h.passage for h in theirs] == [h.passage for h in ours]
        assert np.allclose([h.sparse_score for h in theirs], [h.sparse_score for h in ours], rtol=1e-5)
    assert sharded.kb.sparse.passages is not None


def test_tantivy_filters_select_exactly_what_the_filter_mask_selects(both):
    _, sharded = both
    kb, rng = sharded.kb, random.Random(3)
    records = list(kb.records)
    journals = sorted({r.journal for r in records if r.journal})
    for trial in range(25):
        filters = Filters(year_min=rng.choice([None, 2015, 2018]), year_max=rng.choice([None, 2019, 2022]),
                          types=tuple(rng.sample(["abstract", "title", "reference_title"], rng.randint(0, 2))),
                          journals=tuple(rng.sample(journals, rng.randint(0, 2))) if trial % 3 == 0 else (),
                          ids=tuple(r.id for r in rng.sample(records, 30)) if trial % 4 == 0 else ())
        terms = sharded.query_terms(rng.choice(QUERIES))
        allowed = sharded.record_mask(filters)
        rows, scores = kb.sparse.top(kb.sparse.known(terms), 10_000, filters=filters)
        expected = {r for r in np.flatnonzero(allowed[kb.passage_record])}
        unfiltered, _ = kb.sparse.top(kb.sparse.known(terms), 10_000)
        assert set(rows.tolist()) == expected & set(unfiltered.tolist()), filters
        assert all(filters.accepts(h.record) for h in sharded.search("resistance", 10, filters=filters))


def test_the_ivf_index_is_merged_from_shards_under_global_passage_ids(tmp_path):
    from assistant.kb.sharded_build import build_sharded
    papers = list(synthetic_records(1500))
    build_sharded(papers, tmp_path / "kb", get_encoder(FAKE), shard_records=400, ivf_threshold=1000)
    kb = store.KnowledgeBase.load(tmp_path / "kb")
    assert kb.manifest["dense_index"]["kind"] == "ivf-pq" and len(kb.manifest["shards"]) == 4
    assert kb.manifest["dense_index"]["recall_at_10"] >= 0.99
    for row in (0, 399, 400, 1111, len(kb.passages) - 1):
        _, ids = dense_search(kb.index, kb.vectors, kb.vectors[row], 1)
        assert kb.passages[int(ids[0])].text == kb.passages[row].text  # each passage finds itself, by global id
    retriever = Retriever(kb, get_encoder(FAKE))
    filters = Filters(year_min=2000, year_max=2004, publication_types=("Review",))
    hits = retriever.search("JAK1 loss and resistance to anti-PD-1 therapy", 10, filters=filters)
    assert hits and all(filters.accepts(h.record) for h in hits)


def test_a_rebuild_links_unchanged_shards_and_embeds_only_changed_passages(tmp_path):
    from assistant.kb.sharded_build import build_sharded
    papers = list(synthetic_records(300))
    encoder = get_encoder(FAKE)
    first = build_sharded(papers, tmp_path / "kb", encoder, shard_records=100)
    old = store.KnowledgeBase.live_version(tmp_path / "kb")
    assert first.embedded == first.passages
    changed = papers[:250] + [replace(papers[250], text=papers[250].text + " New.")] + papers[251:]
    again = build_sharded(changed, tmp_path / "kb", encoder, shard_records=100)
    new = store.KnowledgeBase.live_version(tmp_path / "kb")
    assert again.embedded == 1 and again.reused == again.passages - 1
    # an old version stays until no process has it loaded; here nothing holds it, so it is swept
    assert not old.exists()
    kb = store.KnowledgeBase.load(tmp_path / "kb")
    assert kb.find(papers[250].id).text.endswith("New.")
    assert (new / "shards" / "00002" / "records.arrow").is_file()
    assert build_sharded(changed, tmp_path / "kb", encoder, shard_records=100).unchanged
    reordered = build_sharded(changed[::-1], tmp_path / "kb", encoder, shard_records=100)
    assert reordered.unchanged and store.KnowledgeBase.live_version(tmp_path / "kb") == new  # no empty delta


def test_shards_written_before_they_kept_bm25_tokens_still_search_and_the_next_build_rewrites_them(tmp_path):
    from assistant.kb.sharded_build import build_sharded
    papers = list(synthetic_records(200))
    encoder = get_encoder(FAKE)
    build_sharded(papers, tmp_path / "kb", encoder, shard_records=100)
    live = store.KnowledgeBase.live_version(tmp_path / "kb")
    for shard in (live / "shards").iterdir():  # as the first format 3 builds wrote them
        (shard / "tokens.bin").unlink()
        (shard / "tokens.offsets.npy").unlink()
    manifest = json.loads((live / "manifest.json").read_text())
    manifest["sparse"]["method"] = "tantivy bm25 (k1 1.2, b 0.75)"
    manifest["corpus_hash"] = "digest of shards without tokens"
    del manifest["shard_format"]
    for shard in manifest["shards"]:
        shard["digest"] = "without tokens " + shard["digest"]
    (live / "manifest.json").write_text(json.dumps(manifest))
    old = Retriever.load(tmp_path / "kb")
    assert old.kb.sparse.passages is None and old.search("tumour antigen", 5, mode="sparse")  # tantivy's scores
    del old
    report = build_sharded(papers, tmp_path / "kb", encoder, shard_records=100)
    assert not report.unchanged and report.embedded == 0
    assert Retriever.load(tmp_path / "kb").kb.sparse.passages is not None


def test_unchanged_shards_are_hard_links_to_the_live_version(tmp_path):
    from assistant.kb.sharded_build import build_sharded
    papers = list(synthetic_records(300))
    encoder = get_encoder(FAKE)
    build_sharded(papers, tmp_path / "kb", encoder, shard_records=100)
    held = store.KnowledgeBase.load(tmp_path / "kb")  # a reader keeps the old version alive
    build_sharded(papers[:299], tmp_path / "kb", encoder, shard_records=100, full=True)  # not as a delta
    new = store.KnowledgeBase.live_version(tmp_path / "kb")
    for name in ("00000", "00001"):
        assert os.path.samefile(held.path / "shards" / name / "vectors.f16.npy", new / "shards" / name /
                                "vectors.f16.npy")
    assert not os.path.samefile(held.path / "shards" / "00002" / "records.arrow",
                                new / "shards" / "00002" / "records.arrow")


def test_the_cli_builds_searches_and_keeps_the_sharded_layout(tmp_path):
    runner, index = CliRunner(), str(tmp_path / "kb")
    result = runner.invoke(cli, ["build", "--layout", "sharded", "--model", FAKE, "--index", index])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["search", "JAK1 JAK2 loss of function", "--json", "--index", index, "-k", "3"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["title"]
    (tmp_path / "more.jsonl").write_text(json.dumps({"id": "x1", "type": "abstract", "title": "A new paper on "
                                                     "LAG-3 after PD-1 blockade", "text": "LAG-3 rose."}) + "\n")
    result = runner.invoke(cli, ["ingest", str(tmp_path / "more.jsonl"), "--index", index])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["info", "--index", index, "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert facts["layout"] == "sharded" and facts["format_version"] == 3


def test_a_damaged_sharded_version_is_one_line_and_repair_passes_it_over(tmp_path):
    from assistant.kb.sharded_build import build_sharded
    papers = list(synthetic_records(120))
    encoder = get_encoder(FAKE)
    build_sharded(papers[:100], tmp_path / "kb", encoder, shard_records=50)
    good = store.KnowledgeBase.live_version(tmp_path / "kb")
    held = store.KnowledgeBase.load(tmp_path / "kb")
    build_sharded(papers, tmp_path / "kb", encoder, shard_records=50)
    live = store.KnowledgeBase.live_version(tmp_path / "kb")
    vectors = live / "shards" / "00002" / "vectors.f16.npy"
    data = np.load(vectors)
    data[:] = 0
    os.unlink(vectors)
    np.save(vectors, data)
    assert "not a unit vector" in store.version_problem(live)
    message, skipped = store.repair(tmp_path / "kb")
    assert good.name in message and skipped
    del held
    (live / "passage_record.npy").unlink()
    store._point_at(tmp_path / "kb", live.name)
    with pytest.raises(AssistantError, match="damaged .*repair"):
        store.KnowledgeBase.load(tmp_path / "kb")


def _token_files(version):
    return sorted(p.name for p in (version / "shards").glob("*/tokens*"))


def test_a_knowledge_base_built_without_bm25_tokens_keeps_that_choice_through_updates_and_compaction(tmp_path):
    from assistant.kb.delta import compact
    from assistant.kb.sharded_build import build_sharded
    papers, encoder, index = list(synthetic_records(300)), get_encoder(FAKE), tmp_path / "kb"
    build_sharded(papers[:250], index, encoder, shard_records=100, bm25_tokens=False)
    live = store.KnowledgeBase.live_version(index)
    assert _token_files(live) == [] and json.loads((live / "manifest.json").read_text())["sparse"]["tokens"] is False
    lean = Retriever.load(index)
    assert lean.kb.sparse.passages is None  # tantivy's own scores rank
    assert store.describe(lean.kb)["bm25"] == "tantivy's own scores"
    query = "tumour antigen presentation"
    assert lean.search(query, 5, mode="sparse") and lean.search(query, 5, mode="hybrid")
    del lean
    changed = papers[:10] + [replace(papers[10], text=papers[10].text + " Revised.")] + papers[11:]
    update = build_sharded(changed, index, encoder, shard_records=100)  # no choice given: the live one stands
    live = store.KnowledgeBase.live_version(index)
    manifest = json.loads((live / "manifest.json").read_text())
    assert manifest.get("delta_of") and update.embedded == 51  # one revised paper and 50 new ones, one passage each
    assert _token_files(live) == [] and manifest["sparse"]["tokens"] is False
    compact(index, encoder)
    live = store.KnowledgeBase.live_version(index)
    manifest = json.loads((live / "manifest.json").read_text())
    assert not manifest.get("dead_records") and _token_files(live) == [] and manifest["sparse"]["tokens"] is False
    # asked for again, the tokens come back in every shard without embedding anything, and BM25 ranks exactly
    again = build_sharded(changed, index, encoder, shard_records=100, bm25_tokens=True)
    assert not again.unchanged and again.embedded == 0
    live = store.KnowledgeBase.live_version(index)
    assert len(_token_files(live)) == 2 * len(list((live / "shards").iterdir()))
    exact = Retriever.load(index)
    assert exact.kb.sparse.passages is not None
    store.build(changed, tmp_path / "single", encoder)
    single = Retriever.load(tmp_path / "single")
    for q in QUERIES:
        assert [h.record.id for h in exact.search(q, 10, mode="sparse")] == \
            [h.record.id for h in single.search(q, 10, mode="sparse")]


def test_bm25_ranks_close_to_exact_without_its_tokens(both, tmp_path):
    from assistant.kb.sharded_build import build_sharded
    _, exact = both
    build_sharded(list(exact.kb.records), tmp_path / "lean", get_encoder(FAKE), shard_records=40, bm25_tokens=False)
    lean = Retriever.load(tmp_path / "lean")
    assert lean.kb.sparse.passages is None and exact.kb.sparse.passages is not None
    shared = []
    for q in QUERIES:
        ours = {h.record.id for h in lean.search(q, 10, mode="sparse")}
        shared.append(len(ours & {h.record.id for h in exact.search(q, 10, mode="sparse")}) / 10)
    assert np.mean(shared) >= 0.8, shared


def test_the_cli_leaves_bm25_tokens_out_of_a_sharded_build_only(tmp_path, capsys):
    from assistant.cli import main

    def run(*argv):
        code = main([*argv, *(["--model", FAKE] if argv[0] == "build" else [])])
        out, err = capsys.readouterr()
        return code, out, err

    code, _, err = run("build", "--index", str(tmp_path / "single"), "--no-bm25-tokens")
    assert code == 1 and "--layout sharded" in err and len(err.splitlines()) == 1
    assert not list(tmp_path.glob("single/v*"))
    index = str(tmp_path / "kb")
    assert run("build", "--layout", "sharded", "--no-bm25-tokens", "--index", index)[0] == 0
    (tmp_path / "more.jsonl").write_text(json.dumps({"id": "x1", "type": "abstract", "title": "A new paper on "
                                                     "LAG-3 after PD-1 blockade", "text": "LAG-3 rose."}) + "\n")
    assert run("ingest", str(tmp_path / "more.jsonl"), "--index", index)[0] == 0  # the choice stands
    code, out, _ = run("info", "--index", index)
    assert code == 0 and "layout:         sharded (BM25: tantivy's own scores)" in out
    assert not list(tmp_path.glob("kb/v*/shards/*/tokens.bin"))
    code, out, err = run("build", "--bm25-tokens", "--index", index)
    assert code == 0 and "0 embedded" in out.replace(",", ""), (out, err)
    code, out, _ = run("info", "--index", index)
    assert "layout:         sharded (BM25: tantivy, exact bm25s scores)" in out
