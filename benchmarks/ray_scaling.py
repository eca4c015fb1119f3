"""Embedding throughput on Ray against the in-process encoder: 1 and 2 embedding actors on a local cluster.

The project's own document encoder (MiniLM, the build's default precision) embeds the passages of SciFact
abstracts (``../shared/eval/scifact``; the shipped corpus repeated when it is missing): first in a process pinned
to one core (``taskset``, one OpenVINO stream on one thread, as an actor runs), then through ``kb.ray_build.
RayEmbedder`` on a ``ray.cluster_utils.Cluster`` whose two worker nodes have one CPU each, with one actor and with
two. Reports word pieces per second once the actors are up (from the first batch back to the last), the per-core
rate against the pinned process, the speed-up from 1 to 2 actors, Ray's own share of the CPU time (its processes
other than the actors: raylets, GCS, Ray Data's tasks and actors; the driver is not counted), and the cosine of
each Ray vector to the in-process build's.

    .venv/bin/python benchmarks/ray_scaling.py --passages 3000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"


def texts(n: int) -> list[str]:
    from assistant.kb.passages import split_records
    if SCIFACT.is_dir():
        from assistant.evaluate import load_beir
        records = load_beir(SCIFACT, "test").corpus
    else:
        from assistant.corpus import read_corpus_dir
        records = read_corpus_dir(ROOT / "index" / "corpus") * 40
    out = [p.text for p in split_records(records)]
    return out[:n]


def pinned(n: int) -> dict:
    """Run in a child pinned to core 0: word pieces per second of one core."""
    code = ("import json,sys,time; sys.path.insert(0, %r); sys.path.insert(0, %r)\n"
            "from ray_scaling import texts\nfrom assistant.encoders import get_encoder, token_budget_of\n"
            "t = texts(%d); e = get_encoder(); e.encode_batch(t[:64])\n"
            "wp = sum(token_budget_of(e).count(t)); s = time.perf_counter(); e.encode_batch(t)\n"
            "print(json.dumps({'word_pieces': wp, 'seconds': time.perf_counter() - s, 'encoder': e.name,"
            " 'precision': getattr(e, 'precision', '?')}))") % (str(ROOT), str(ROOT / "benchmarks"), n)
    env = {**os.environ, "CHECKPOINT_QA_ENCODER_THREADS": "1"}
    out = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


class CpuMeter:
    """CPU seconds each process used while the meter ran, sampled every 0.25 s (processes that end keep their
    last sample): split into the embedding actors and everything else of Ray's."""

    def __init__(self):
        self.start = self._sample()
        self.last: dict[int, tuple[float, str]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _sample() -> dict[int, tuple[float, str]]:
        found = {}
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                t = proc.cpu_times()
                found[proc.info["pid"]] = (t.user + t.system, " ".join(proc.info["cmdline"] or []))
            except psutil.Error:
                continue
        return found

    def _run(self) -> None:
        while not self.stop.is_set():
            self.last.update(self._sample())
            time.sleep(0.25)

    def split(self) -> tuple[float, float]:
        self.stop.set()
        self.thread.join()
        actors = ray_own = 0.0
        for pid, (cpu, title) in self.last.items():
            used = cpu - self.start.get(pid, (0.0, ""))[0]
            if "EmbedActor" in title:
                actors += used
            elif title.startswith("ray::") or any(n in title for n in ("raylet", "gcs_server", "ray/_private")):
                ray_own += used
        return actors, ray_own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=256, help="texts an actor embeds at a time")
    args = parser.parse_args()
    import ray
    from ray.cluster_utils import Cluster

    from assistant.encoders import get_encoder, token_budget_of
    from assistant.kb.ray_build import RayEmbedder, connect

    sample = texts(args.passages)
    encoder = get_encoder()
    counts = token_budget_of(encoder).count(sample)
    word_pieces = sum(counts)
    one_core = pinned(args.passages)
    base = one_core["word_pieces"] / one_core["seconds"]
    result = {"passages": len(sample), "word_pieces": word_pieces, "encoder": f"{encoder.name} "
              f"({getattr(encoder, 'backend', '?')}, {getattr(encoder, 'precision', '?')})",
              "in_process_one_core_wp_per_s": round(base)}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        connect(cluster.address)
        for actors in (1, 2):
            embed = RayEmbedder(encoder.name, getattr(encoder, "precision", "auto"), "auto", encoder.dimension,
                                actors=actors, batch_size=args.batch)
            embed.collect_rows = args.batch
            arrivals = []

            def spill(rows, vectors):  # when each batch comes back, and its word pieces
                arrivals.append((time.perf_counter(), sum(counts[r] for r in rows)))

            meter = CpuMeter()
            started = time.perf_counter()
            vectors = embed(sample, spill)
            seconds = time.perf_counter() - started
            # steady state: from the first batch back (actors started, model loaded) to the last
            steady = sum(wp for _, wp in arrivals[1:]) / (arrivals[-1][0] - arrivals[0][0])
            actor_cpu, ray_cpu = meter.split()
            rate = steady
            result[f"{actors}_actors"] = {"seconds_with_start": round(seconds, 1), "wp_per_s": round(rate),
                                          "per_core_vs_in_process": round(rate / actors / base, 3),
                                          "ray_cpu_share": round(ray_cpu / max(ray_cpu + actor_cpu, 1e-9), 3)}
        result["speedup_2_over_1"] = round(result["2_actors"]["wp_per_s"] / result["1_actors"]["wp_per_s"], 2)
        local = encoder.encode_batch(sample)  # the in-process build's vectors (every core, its own streams)
        cosines = (local * vectors).sum(axis=1)
        result["cosine_ray_vs_in_process"] = {"min": round(float(cosines.min()), 5),
                                              "mean": round(float(cosines.mean()), 6)}
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
