"""The Ray build against the in-process build at a million passages: same records, passage keys, bytes.

Writes a synthetic PubMed (``--files`` gzipped baseline files, about one passage an article), builds it as a
sharded knowledge base in this process, then on a local Ray cluster (``ray.cluster_utils.Cluster``: a head with one
CPU for the driver's tasks and two worker nodes with one CPU each for the embedding actors), both with the hashing
encoder, and compares every shard file byte for byte, the passage keys (missing, extra, duplicated) and the
records. Reports each build's wall time, the driver's peak memory and the peak resident memory of every Ray worker
process (sampled every 0.5 s).

    .venv/bin/python benchmarks/ray_equality.py --files 32 --per-file 31250 --workdir /tmp/ray-eq
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
import resource
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL = "hash:384"


class WorkerPeaks:
    """Peak RSS of each Ray worker process (``ray::`` in its title), sampled in a thread."""

    def __init__(self):
        self.rss: dict[int, int] = {}
        self.roles: dict[int, set[str]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            for proc in psutil.process_iter(["pid", "cmdline", "memory_info"]):
                try:
                    title = " ".join(proc.info["cmdline"] or [])
                    if title.startswith("ray::") and proc.info["memory_info"]:
                        pid = proc.info["pid"]
                        role = title.split()[0][5:]
                        if role != "IDLE":
                            self.roles.setdefault(pid, set()).add(role)
                        self.rss[pid] = max(self.rss.get(pid, 0), proc.info["memory_info"].rss // 2**20)
                except (psutil.Error, TypeError):
                    continue
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=32)
    parser.add_argument("--per-file", type=int, default=31_250)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ray-eq"))
    args = parser.parse_args()
    from assistant.kb.ray_build import build_from_sources
    from assistant.kb.shards import Shard
    from assistant.kb.store import KnowledgeBase
    from assistant.kb.synthetic import generate

    say = lambda m: print(f"[{time.strftime('%H:%M:%S')}] {m}", file=sys.stderr, flush=True)  # noqa: E731
    sources = args.workdir / "pubmed"
    if not sources.is_dir():
        started = time.perf_counter()
        generate(sources, files=args.files, per_file=args.per_file, seed=17)
        say(f"generated {args.files} files in {time.perf_counter() - started:.0f} s")
    out = {}
    started = time.perf_counter()
    local, _ = build_from_sources([sources], args.workdir / "process", model=MODEL, layout="sharded", on_stage=say)
    out["process"] = {"wall_s": round(time.perf_counter() - started), "passages": local.passages,
                      "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}

    import ray
    from ray.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 1 << 30})
    peaks = WorkerPeaks()
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1, object_store_memory=1 << 30)
        peaks.thread.start()
        started = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        remote, _ = build_from_sources([sources], args.workdir / "ray", model=MODEL, layout="sharded", engine="ray",
                                       address=cluster.address, actors=2, on_stage=say)
        out["ray"] = {"wall_s": round(time.perf_counter() - started), "passages": remote.passages,
                      "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                      "driver_peak_before_ray_build_mb": before}
    finally:
        peaks.stop.set()
        ray.shutdown()
        cluster.shutdown()
    out["ray"]["worker_peak_rss_mb"] = {f"pid {pid}: {', '.join(sorted(peaks.roles.get(pid, {'idle'})))}": mb
                                        for pid, mb in sorted(peaks.rss.items(), key=lambda kv: -kv[1])[:8]}

    a, b = KnowledgeBase.live_version(args.workdir / "process"), KnowledgeBase.live_version(args.workdir / "ray")
    files = sorted(p.relative_to(a) for p in (a / "shards").rglob("*") if p.is_file())
    differ = [str(f) for f in files if (a / f).read_bytes() != (b / f).read_bytes()]
    differ += [n for n in ("passage_record.npy", "filters/year.npy") if (a / n).read_bytes() != (b / n).read_bytes()]
    keys_a = [k for d in sorted((a / "shards").iterdir()) for k in Shard(d).passage_keys()]
    keys_b = [k for d in sorted((b / "shards").iterdir()) for k in Shard(d).passage_keys()]
    out["equality"] = {"shard_files": len(files), "files_differing": differ,
                       "passages": [len(keys_a), len(keys_b)],
                       "same_keys_in_order": keys_a == keys_b,
                       "missing": len(set(keys_a) - set(keys_b)), "extra": len(set(keys_b) - set(keys_a)),
                       "duplicated_by_ray": sum((Counter(keys_b) - Counter(keys_a)).values()),
                       "texts_twice_in_corpus": len(keys_a) - len(set(keys_a))}
    (args.workdir / "result.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
