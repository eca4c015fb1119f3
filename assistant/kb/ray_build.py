"""The build, in process or on a Ray cluster, from source files of any supported format.

Stages: parse each file (``sources.parse_file``; Ray tasks, one file each), resolve newest versions and deletions
(``sources.newest_versions``, on the driver: cheap), split into passages and write the knowledge base
(``store.build``, on the driver; for a sharded one, each shard's split and BM25 analysis run as Ray tasks,
``RayEmbedder.prepare_shards``, and the driver only writes), and embed the passages that are not already embedded.
Embedding is about 99% of a build; on Ray it runs in an actor pool of the project's own encoder (``EmbedActor``,
each actor holding ``cpus_per_actor`` CPUs), fed as Arrow blocks of (row, text) and written back by row, so a
retried block (Ray's at-least-once execution) lands on the same rows and nothing is duplicated or lost; every row is
checked before the version is written. Only the stages differ: with the same records and the hashing encoder, both
builds write byte-identical files (``tests/test_ray_build.py``).
"""

from __future__ import annotations

import logging
import os
import re
from collections import deque
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import AssistantError
from .sources import FileResult, Resolved, newest_versions, parse_file


REPORT_EVERY_MS = 60_000


def quiet_environment() -> None:
    """Set, unless the user has, what keeps a cluster started from this process offline and off the actors'
    cores: Ray reads these variables when it starts its processes."""
    # offline by default: unless told otherwise, Ray reports usage to its makers' servers from every cluster it
    # starts (and Ray Data runs an actor to collect it); set RAY_USAGE_STATS_ENABLED=1 to allow it
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # with no dashboard nobody reads the node reports each node's agent gathers (every process's CPU and memory,
    # by default every 5 s, on the cores the actors embed on); once a minute is enough for ``ray status``
    os.environ.setdefault("REPORTER_UPDATE_INTERVAL_MS", str(REPORT_EVERY_MS))
    # nor the metrics every raylet, agent and worker records for a Prometheus that is not there: about a fifth of
    # Ray's own CPU while two actors embed (benchmarks/ray_scaling.py)
    os.environ.setdefault("RAY_enable_metrics_collection", "0")


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at ``address`` (``auto`` for one started with ``ray start``), or start a local one."""
    quiet_environment()
    try:
        import ray
    except ImportError:
        raise AssistantError("the Ray build needs Ray: pip install 'checkpoint-qa[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the build reports its own stages
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def parse_on_ray(files: Sequence[Path], strict: bool = False) -> list[FileResult]:
    import ray
    if not files:
        return []
    items = ray.data.from_items([{"path": str(f)} for f in files], override_num_blocks=len(files))

    def parse(row: dict) -> dict:
        result = parse_file(row["path"], strict)
        return {"path": result.path, "records_json": result.records_json, "deletions": result.deletions,
                "rejected": result.rejected}

    try:
        rows = items.map(parse).take_all()
    except Exception as exc:  # a task's own error arrives wrapped in Ray's, with its traceback; say it in one line
        said = re.findall(r"(?:CorpusError|AssistantError|ModelError): (.+)", str(exc))
        if said:
            raise AssistantError(said[-1].strip()) from None
        raise
    return [FileResult(row["path"], row["records_json"], list(row["deletions"]), list(row["rejected"]))
            for row in rows]


def cpu_environment(cpus: int) -> dict[str, str]:
    """What keeps an encoder to ``cpus`` cores and no more: one OpenVINO stream on that many threads, and a tokenizer
    whose thread pool (Rust's rayon, sized from the environment when first used) is no wider."""
    from ..encoders.openvino import THREADS_ENV
    cpus = max(1, int(cpus))
    return {THREADS_ENV: str(cpus), "RAYON_NUM_THREADS": str(cpus),
            **({"TOKENIZERS_PARALLELISM": "false"} if cpus == 1 else {})}


class EmbedActor:
    """One encoder per actor, loaded once; embeds a block of ``{"row", "text"}`` into ``{"row", "vector"}``. An
    actor Ray gave a GPU runs the torch encoder on it (``gpu_encoder``); the others run ``get_encoder``'s on their
    own cores."""

    def __init__(self, model: str, precision: str, backend: str):
        import ray

        from ..encoders import get_encoder
        context = ray.get_runtime_context()
        gpus = context.get_accelerator_ids().get("GPU") or []
        if gpus:
            self.encoder = self.gpu_encoder(model, precision)
        else:
            os.environ.update(cpu_environment(int(context.get_assigned_resources().get("CPU", 1))))
            self.encoder = get_encoder(model, precision, backend)

    def gpu_encoder(self, model: str, precision: str):
        """The torch encoder on the GPU Ray assigned (``CUDA_VISIBLE_DEVICES`` names only that one)."""
        from ..encoders import SentenceTransformerEncoder
        return SentenceTransformerEncoder(model, batch_size=256, device="cuda", precision=precision)

    def __call__(self, batch: dict) -> dict:
        vectors = self.encoder.encode_batch([str(t) for t in batch["text"]])
        return {"row": batch["row"], "vector": np.asarray(vectors, dtype=np.float32)}


class RayEmbedder:
    """``store.build``'s ``embed``: the texts embedded by ``actors`` ``EmbedActor``s on the cluster, in order, each
    arriving batch handed to ``spill``. ``actor`` may be a subclass of ``EmbedActor`` (the fault tests use one)."""

    def __init__(self, model: str, precision: str, backend: str, dimension: int, actors: int = 2,
                 cpus_per_actor: float = 1, batch_size: int = 256, actor: type = EmbedActor,
                 gpus_per_actor: float = 0):
        if gpus_per_actor and precision == "int8":
            raise AssistantError("GPU actors run the torch encoder, which has no int8; build with --precision fp32 "
                                 "or bf16")
        self.model, self.precision, self.backend = model, precision, backend
        self.dimension, self.actors, self.cpus, self.batch_size = dimension, actors, cpus_per_actor, batch_size
        self.gpus = gpus_per_actor
        self.embedded = 0
        self.actor = actor
        self.collect_rows = 4096  # rows taken back (and spilled) at a time

    def prepare_shards(self, chunks: Sequence[Sequence], max_words: int, budget) -> Iterator:
        """``shard_writer.prepare_shard`` for each chunk as a Ray task (retried where a worker dies), yielded in
        order; at most twice the cluster's CPUs run ahead of the writer, so the driver holds a bounded number of
        shards."""
        import ray

        from .shard_writer import prepare_shard
        task = ray.remote(num_cpus=1, max_retries=3)(prepare_shard)
        budget_ref = ray.put(budget)  # the tokenizer travels once, not once per shard
        window = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        running: deque = deque()
        for chunk in chunks:
            running.append(task.remote(chunk, max_words, budget_ref))
            if len(running) >= window:
                yield ray.get(running.popleft())
        while running:
            yield ray.get(running.popleft())

    def __call__(self, texts: list[str], spill=None) -> np.ndarray:
        import pyarrow as pa
        import ray
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return vectors
        table = pa.table({"row": np.arange(len(texts), dtype=np.int64), "text": pa.array(texts, pa.large_string())})
        blocks = max(self.actors * 4, min(len(texts) // self.batch_size, 512), 1)  # several blocks per actor
        step = -(-len(texts) // blocks)
        if step > self.batch_size:  # whole batches: no block ends in a batch of a few texts
            step = -(-step // self.batch_size) * self.batch_size
        # sliced here rather than repartitioned on the cluster: no shuffle stage, and the actors start at once
        parts = [table.slice(start, step) for start in range(0, len(texts), step)]
        out = ray.data.from_arrow(parts).map_batches(
            self.actor, fn_constructor_kwargs={"model": self.model, "precision": self.precision,
                                               "backend": self.backend},
            batch_size=self.batch_size, compute=ray.data.ActorPoolStrategy(size=self.actors), num_cpus=self.cpus,
            num_gpus=self.gpus or None, batch_format="numpy")
        seen = np.zeros(len(texts), dtype=bool)
        for batch in out.iter_batches(batch_size=self.collect_rows, batch_format="numpy"):
            rows = np.asarray(batch["row"], dtype=np.int64)
            vectors[rows] = np.asarray(batch["vector"], dtype=np.float32)
            seen[rows] = True
            if spill is not None:  # kept beside the knowledge base: a killed build resumes from here
                spill(rows.tolist(), vectors[rows])
        if not seen.all():
            raise AssistantError(f"the Ray build lost {int((~seen).sum())} of {len(texts)} passages; nothing was "
                                 "written, run the build again")
        self.embedded += len(texts)
        return vectors


def on_ray(address: str | None = None, actors: int = 2, cpus_per_actor: float = 1, backend: str = "auto",
           gpus_per_actor: float = 0):
    """An ``embedder`` for ``ingest``: joins the cluster, then embeds with ``RayEmbedder`` for the chosen encoder."""
    def embedder(encoder) -> RayEmbedder:
        connect(address)
        return RayEmbedder(encoder.name, getattr(encoder, "precision", "auto"), backend, encoder.dimension, actors,
                           cpus_per_actor, gpus_per_actor=gpus_per_actor)
    return embedder


def build_from_sources(paths: Sequence[str | Path], index_dir: str | Path, model: str | None = None,
                       engine: str = "process", address: str | None = None, actors: int = 2,
                       cpus_per_actor: float = 1, strict: bool = False, settings=None, progress: bool = False,
                       on_stage=None, actor: type = EmbedActor, layout: str | None = None, gpus_per_actor: float = 0,
                       bm25_tokens: bool | None = None):
    """Build ``index_dir`` from source files or folders (PubMed baseline and update files, or any supported
    format), with the stages in this process (``engine="process"``) or on Ray (``engine="ray"``), as a single or a
    sharded knowledge base (``layout`` and ``bm25_tokens``, as ``store.build`` takes them). Returns the
    ``store.BuildReport`` and the ``sources.Resolved`` summary."""
    from ..config import DEFAULT_MODEL, load_settings
    from ..encoders import get_encoder
    from ..corpus.collect import input_files
    from .store import build
    settings = settings or load_settings({"index": str(index_dir), "model": model})
    say = on_stage or (lambda message: None)
    files = input_files(paths)
    if engine not in ("process", "ray"):
        raise AssistantError(f"unknown build engine {engine!r}; use process or ray")
    name = settings.model or DEFAULT_MODEL
    encoder = get_encoder(name, settings.precision, settings.document_encoder)
    if engine == "ray":
        connect(address)
        say(f"parsing {len(files)} files on Ray")
        results = parse_on_ray(files, strict)
        embed = RayEmbedder(encoder.name, getattr(encoder, "precision", settings.precision),
                            settings.document_encoder, encoder.dimension, actors, cpus_per_actor, actor=actor,
                            gpus_per_actor=gpus_per_actor)
    else:
        say(f"parsing {len(files)} files")
        results = [parse_file(f, strict) for f in files]
        embed = None
    resolved: Resolved = newest_versions(results, consume=True)
    say(resolved.summary())
    if not resolved.records:
        raise AssistantError("the sources hold no papers (every record was rejected or deleted)")
    report = build(resolved.records, Path(index_dir), encoder, progress=progress, on_stage=on_stage, embed=embed,
                   layout=layout, bm25_tokens=bm25_tokens)
    return report, resolved
