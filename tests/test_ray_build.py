"""The build from PubMed-style sources, in process and on a local Ray cluster with two worker nodes: the same
records, passages and byte-identical vectors (hashing encoder); newest versions and deletions applied; an update
embeds only what it changed."""

import os
import shutil
import time

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.errors import AssistantError
from assistant.kb.ray_build import build_from_sources
from assistant.kb.sources import newest_versions, parse_file
from assistant.kb.synthetic import generate
from assistant.kb.shards import FILES
from assistant.kb.store import KnowledgeBase, passage_key
from assistant.retriever import Retriever

MODEL = "hash:256"


@pytest.fixture(scope="module")
def pubmed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pubmed")
    return folder, generate(folder, files=6, per_file=120, updates=2, seed=11)


def test_newest_versions_and_deletions_are_applied(pubmed):
    folder, layout = pubmed
    results = [parse_file(f) for f in reversed(layout.baseline + layout.updates)]  # any order: names decide
    resolved = newest_versions(results)
    pmids = [r.pmid for r in resolved.records]
    assert len(pmids) == len(set(pmids)) and resolved.replaced == layout.revised
    deleted = {pmid for f in layout.updates for pmid in parse_file(f).deletions}
    revised_last = {r.pmid for r in parse_file(layout.updates[-1]).records}
    assert not deleted & set(pmids) - revised_last  # deleted unless a later file brings it back
    by_pmid = {r.pmid: r for r in resolved.records}
    baseline = {r.pmid for f in layout.baseline for r in parse_file(f).records}
    revised = revised_last & baseline & set(by_pmid)
    assert revised and all(by_pmid[p].title.endswith("(revised 2)") for p in revised)


def test_resolving_can_let_go_of_each_files_json_and_resolves_the_same(pubmed):
    folder, layout = pubmed
    files = list(reversed(layout.baseline + layout.updates))
    kept = newest_versions([parse_file(f) for f in files])
    results = [parse_file(f) for f in files]
    consumed = newest_versions(results, consume=True)
    assert results == []  # the build's list no longer holds the files' JSON
    assert [r.to_dict() for r in consumed.records] == [r.to_dict() for r in kept.records]
    assert consumed.summary() == kept.summary()


def test_an_update_embeds_only_what_it_changed(pubmed, tmp_path):
    folder, layout = pubmed
    first, _ = build_from_sources(layout.baseline, tmp_path / "kb", model=MODEL)
    assert first.embedded == first.passages
    again, _ = build_from_sources(layout.baseline, tmp_path / "kb", model=MODEL)
    assert again.unchanged and again.embedded == 0
    update = build_from_sources(layout.baseline + layout.updates[:1], tmp_path / "kb", model=MODEL)[0]
    kb = KnowledgeBase.load(tmp_path / "kb")
    changed = parse_file(layout.updates[0]).records  # revised and new papers: one passage each here
    assert update.embedded == len(changed) and update.reused == update.passages - update.embedded
    gone = set(parse_file(layout.updates[0]).deletions) - {r.pmid for r in changed}
    assert gone and not gone & {r.pmid for r in kb.records}


def test_the_ray_build_equals_the_in_process_build_byte_for_byte_even_when_an_actor_dies(pubmed, tmp_path):
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from assistant.kb.ray_build import EmbedActor
    marker = tmp_path / "killed-once"

    class DiesOnce(EmbedActor):
        """Kills its own process on its first batch, once per build: Ray restarts it and retries the block."""

        def __call__(self, batch):
            import os
            seen = [os.environ.get(n) for n in ("CHECKPOINT_QA_ENCODER_THREADS", "RAYON_NUM_THREADS",
                                                "TOKENIZERS_PARALLELISM")]
            (marker.parent / f"actor-env-{os.getpid()}").write_text(" ".join(map(str, seen)))
            if not os.path.exists(str(marker)):
                open(str(marker), "w").close()
                os._exit(1)
            return super().__call__(batch)

    folder, layout = pubmed
    local, resolved = build_from_sources([folder], tmp_path / "process", model=MODEL)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 150 * 2 ** 20})
    try:
        for _ in range(2):  # two worker nodes for the embedding actors; the head's CPU reads and parses
            cluster.add_node(num_cpus=1, object_store_memory=150 * 2 ** 20)
        remote, remote_resolved = build_from_sources([folder], tmp_path / "ray", model=MODEL, engine="ray",
                                                     address=cluster.address, actors=2, actor=DiesOnce)
        extra = generate(tmp_path / "more", files=1, per_file=40, seed=99, first_pmid=50_000_000).baseline
        from assistant.ingest import ingest
        from assistant.kb.ray_build import on_ray
        sharded, _ = build_from_sources([folder], tmp_path / "ray-sharded", model=MODEL, engine="ray",
                                        address=cluster.address, actors=2, layout="sharded")
        # a sharded build of several shards: each shard split and analysed by a Ray task, not the driver
        from ray.util.state import list_tasks

        from assistant.encoders import get_encoder
        from assistant.kb.ray_build import RayEmbedder
        from assistant.kb.sharded_build import build_sharded
        encoder = get_encoder(MODEL)
        build_sharded(resolved.records, tmp_path / "ray-shards", encoder, shard_records=100,
                      embed=RayEmbedder(encoder.name, "fp32", "auto", encoder.dimension, actors=2))
        for _ in range(50):  # task events reach the state API a moment after the tasks end
            prepared = {t.task_id: t.state for t in list_tasks(
                address=cluster.address, filters=[("func_or_class_name", "=", "prepare_shard")])}
            if prepared and set(prepared.values()) == {"FINISHED"}:
                break
            time.sleep(0.2)
        ingested = ingest(extra, index=tmp_path / "ray", embedder=on_ray(cluster.address))
        ingest(extra, index=tmp_path / "process")
        bad = corrupt_sources(tmp_path / "bad", layout)
        with pytest.raises(AssistantError, match=r"^pubmed26n000[23]\.xml\.gz: .*--strict stops"):
            build_from_sources([bad], tmp_path / "strict", model=MODEL, engine="ray", address=cluster.address,
                               strict=True)  # one line, not Ray's traceback
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert marker.exists()  # an actor did die mid-build
    # each actor held to its one CPU: one OpenVINO stream and a tokenizer without a thread per core of the node
    assert {p.read_text() for p in tmp_path.glob("actor-env-*")} == {"1 1 false"}
    assert ingested.added == 40 and ingested.build.embedded == 40  # ingest --engine ray: only the new papers
    assert remote_resolved.summary() == resolved.summary()
    assert (remote.records, remote.passages, remote.embedded) == (local.records, local.passages, local.embedded)
    a, b = KnowledgeBase.live_version(tmp_path / "process"), KnowledgeBase.live_version(tmp_path / "ray")
    for name in ("records.jsonl", "passages.jsonl", "vectors.npy"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    keys = [passage_key(p) for p in KnowledgeBase.load(tmp_path / "ray").passages]
    assert len(keys) == len(set(keys)) == remote.passages + 40  # every passage exactly once
    # the sharded layout too: the same shard files, byte for byte
    build_from_sources([folder], tmp_path / "process-sharded", model=MODEL, layout="sharded")
    a, b = KnowledgeBase.live_version(tmp_path / "process-sharded"), KnowledgeBase.live_version(tmp_path /
                                                                                                "ray-sharded")
    files = sorted(p.relative_to(a) for p in (a / "shards").rglob("*") if p.is_file())
    assert len(files) == len(FILES) and sharded.passages == local.passages
    for name in [*files, "passage_record.npy", "filters/year.npy"]:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    build_sharded(resolved.records, tmp_path / "process-shards", encoder, shard_records=100)
    a, b = KnowledgeBase.live_version(tmp_path / "process-shards"), KnowledgeBase.live_version(tmp_path / "ray-shards")
    files = sorted(p.relative_to(a) for p in (a / "shards").rglob("*") if p.is_file())
    assert len(prepared) >= len(files) // len(FILES) >= 5  # one task per shard (here and in the earlier sharded build)
    assert set(prepared.values()) == {"FINISHED"}
    for name in [*files, "passage_record.npy"]:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert Retriever.load(tmp_path / "ray-shards").search("tumour", 5, mode="sparse")  # the BM25 side reads them


def test_the_cli_builds_from_sources(pubmed, tmp_path):
    folder, layout = pubmed
    shutil.copy(layout.baseline[0], tmp_path / layout.baseline[0].name)
    result = CliRunner().invoke(cli, ["build", "--sources", str(tmp_path), "--model", MODEL, "--index",
                                      str(tmp_path / "kb")])
    assert result.exit_code == 0, result.output
    assert "1 files: 120 records read" in result.output and "120 papers" in result.output
    result = CliRunner().invoke(cli, ["build", "--engine", "ray", "--index", str(tmp_path / "kb")])
    assert result.exit_code != 0 and "--engine ray builds from --sources" in str(result.exception)


def corrupt_sources(folder, layout):
    """One good file, one cut short, one that is not XML at all."""
    import gzip
    folder.mkdir()
    shutil.copy(layout.baseline[0], folder / "pubmed26n0001.xml.gz")
    (folder / "pubmed26n0002.xml.gz").write_bytes(layout.baseline[1].read_bytes()[:3000])
    (folder / "pubmed26n0003.xml.gz").write_bytes(gzip.compress(b"garbage"))
    return folder


def test_a_corrupt_source_file_is_reported_and_strict_stops_the_build(pubmed, tmp_path):
    folder, layout = pubmed
    bad = corrupt_sources(tmp_path / "bad", layout)
    report, resolved = build_from_sources([bad], tmp_path / "kb", model=MODEL)
    assert report.records == 120 and len(resolved.rejected) == 2
    assert any("pubmed26n0002.xml.gz: cannot be read" in line for line in resolved.rejected)
    with pytest.raises(AssistantError, match="--strict stops"):
        build_from_sources([bad], tmp_path / "strict", model=MODEL, strict=True)
    assert not (tmp_path / "strict" / "CURRENT").exists()


class FailingEncoder:
    """The hashing encoder that fails (as a killed build would stop) after ``calls`` batches."""

    def __init__(self, calls: int):
        from assistant.encoders import HashingEncoder
        self.inner, self.calls = HashingEncoder(256), calls
        self.name, self.backend, self.precision = self.inner.name, "hash", "fp32"

    @property
    def dimension(self):
        return self.inner.dimension

    def encode_batch(self, texts):
        if self.calls == 0:
            raise KeyboardInterrupt("killed")
        self.calls -= 1
        return self.inner.encode_batch(texts)


@pytest.mark.parametrize("layout", ["single", "sharded"])
def test_a_killed_build_resumes_embedding_only_what_was_missing(pubmed, tmp_path, monkeypatch, layout):
    import assistant.kb.store as store
    from assistant.encoders import HashingEncoder
    folder, sources = pubmed
    records = newest_versions([parse_file(f) for f in sources.baseline]).records
    monkeypatch.setattr(store, "SPILL_EVERY", 100)
    with pytest.raises(KeyboardInterrupt):
        store.build(records, tmp_path / "kb", FailingEncoder(calls=3), layout=layout)
    assert not (tmp_path / "kb" / "CURRENT").exists()  # nothing half-built goes live
    spilled = len(store.EmbedCache(tmp_path / "kb", "hash:256", "fp32", 256).load())
    assert spilled == 300
    resumed = store.build(records, tmp_path / "kb", HashingEncoder(256), layout=layout)
    assert resumed.embedded == resumed.passages - spilled and resumed.reused == spilled
    assert not (tmp_path / "kb" / ".embedding").exists()
    clean = store.build(records, tmp_path / "clean", HashingEncoder(256), layout=layout)
    a, b = KnowledgeBase.live_version(tmp_path / "kb"), KnowledgeBase.live_version(tmp_path / "clean")
    assert clean.embedded == clean.passages
    files = ["vectors.npy"] if layout == "single" else [p.relative_to(a) for p in (a / "shards").rglob("*.npy")]
    assert files and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_records_without_a_pmid_are_never_merged_by_reading_order(tmp_path):
    from conftest import write_jsonl
    rows = [{"id": "same-id", "type": "abstract", "title": "First paper", "text": "STK11 loss and PD-1."},
            {"id": "same-id", "type": "abstract", "title": "Second paper", "text": "KEAP1 loss and PD-L1."}]
    write_jsonl(tmp_path / "a.jsonl", rows[:1])
    write_jsonl(tmp_path / "b.jsonl", rows[1:])
    resolved = newest_versions([parse_file(tmp_path / "a.jsonl"), parse_file(tmp_path / "b.jsonl")])
    assert [r.title for r in resolved.records] == ["First paper", "Second paper"] and resolved.replaced == 0


def test_a_worker_node_removed_mid_build_loses_no_passage(pubmed, tmp_path):
    """A worker node that hosts an embedding actor is removed while the actors work: Ray Data moves the work to
    the nodes left, and the build writes every passage exactly once, byte-identical to the in-process build."""
    ray = pytest.importorskip("ray")
    import threading
    import time

    from ray.cluster_utils import Cluster
    from ray.util.state import list_actors

    from assistant.kb.ray_build import EmbedActor
    started = tmp_path / "embedding-started"

    class Slow(EmbedActor):
        """Marks the first batch and takes its time, so the node can be removed while blocks are in flight."""

        def __call__(self, batch):
            import os
            import time
            if not os.path.exists(str(started)):
                open(str(started), "w").close()
            time.sleep(0.3)
            return super().__call__(batch)

    folder, _ = pubmed
    local, _ = build_from_sources([folder], tmp_path / "process", model=MODEL, layout="sharded")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 150 * 2 ** 20})
    removed = []
    try:
        workers = [cluster.add_node(num_cpus=1, object_store_memory=150 * 2 ** 20) for _ in range(3)]

        def remove_a_node_with_an_actor() -> None:
            while not started.exists():
                time.sleep(0.05)
            for actor in list_actors(address=cluster.address, filters=[("state", "=", "ALIVE")]):
                if "EmbedActor" in actor.class_name or "MapWorker" in actor.class_name:
                    node = next((w for w in workers if w.node_id == actor.node_id), None)
                    if node is not None:
                        cluster.remove_node(node)
                        removed.append(actor.node_id)
                        return

        killer = threading.Thread(target=remove_a_node_with_an_actor)
        killer.start()
        remote, _ = build_from_sources([folder], tmp_path / "ray", model=MODEL, engine="ray", layout="sharded",
                                       address=cluster.address, actors=2, actor=Slow)
        killer.join()
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert removed  # a node with an embedding actor went away mid-build
    assert (remote.records, remote.passages) == (local.records, local.passages)
    a, b = KnowledgeBase.live_version(tmp_path / "process"), KnowledgeBase.live_version(tmp_path / "ray")
    for name in sorted(p.relative_to(a) for p in (a / "shards").rglob("*") if p.is_file()):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    keys = [passage_key(p) for p in KnowledgeBase.load(tmp_path / "ray").passages]
    assert len(keys) == len(set(keys)) == remote.passages


def test_gpu_actors_hold_a_gpu_each_and_write_what_the_cpu_build_writes(pubmed, tmp_path):
    """A node that declares a GPU: each embedding actor is scheduled with one and builds its encoder through
    ``gpu_encoder`` (here the hashing encoder, as this machine has no CUDA); the knowledge base is byte-identical to
    the in-process build's. int8, which the torch encoder lacks, is refused in one line."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from assistant.encoders import get_encoder
    from assistant.kb.ray_build import EmbedActor, RayEmbedder
    seen = tmp_path / "gpus"
    seen.mkdir()

    class OnFakeGpu(EmbedActor):
        def gpu_encoder(self, model, precision):
            import os
            (seen / str(os.getpid())).write_text(",".join(map(str, ray.get_runtime_context().get_accelerator_ids()
                                                               ["GPU"])))
            return get_encoder(model)

    folder, _ = pubmed
    local, _ = build_from_sources([folder], tmp_path / "process", model=MODEL)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 150 * 2 ** 20})
    try:
        cluster.add_node(num_cpus=2, num_gpus=2, object_store_memory=150 * 2 ** 20)
        remote, _ = build_from_sources([folder], tmp_path / "ray", model=MODEL, engine="ray",
                                       address=cluster.address, actors=2, gpus_per_actor=1, actor=OnFakeGpu)
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert sorted(p.read_text() for p in seen.iterdir()) == ["0", "1"]  # two actors, one GPU each
    a, b = KnowledgeBase.live_version(tmp_path / "process"), KnowledgeBase.live_version(tmp_path / "ray")
    for name in ("records.jsonl", "passages.jsonl", "vectors.npy"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert remote.passages == local.passages
    with pytest.raises(AssistantError, match="^GPU actors run the torch encoder.*--precision fp32"):
        RayEmbedder("all-MiniLM-L6-v2", "int8", "auto", 384, gpus_per_actor=1)


def test_a_cluster_the_build_starts_reports_nothing_to_ray_and_runs_no_dashboard(monkeypatch):
    """Offline by default: Ray sends usage statistics home unless told not to; ``connect`` tells it (a user who
    wants them sets RAY_USAGE_STATS_ENABLED=1 first)."""
    ray = pytest.importorskip("ray")
    from assistant.kb.ray_build import connect
    started = {}
    monkeypatch.delenv("RAY_USAGE_STATS_ENABLED", raising=False)
    monkeypatch.delenv("REPORTER_UPDATE_INTERVAL_MS", raising=False)
    monkeypatch.delenv("RAY_enable_metrics_collection", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: started.update(kwargs))
    connect()
    from ray._common.usage.usage_lib import usage_stats_enabled
    assert not usage_stats_enabled() and started["include_dashboard"] is False and started["address"] is None
    assert int(os.environ["REPORTER_UPDATE_INTERVAL_MS"]) >= 60_000  # no dashboard: node reports once a minute
    assert os.environ["RAY_enable_metrics_collection"] == "0"  # and no metrics for a Prometheus that is not there
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "1")
    connect("auto")
    assert usage_stats_enabled() and started["address"] == "auto"  # the user's choice stands
