"""The Ray build against the in-process build at a million passages: same records, passage keys, bytes.

Writes a synthetic PubMed (``--files`` gzipped baseline files, about one passage an article), builds it as a
sharded knowledge base in this process, then on a local Ray cluster (``ray.cluster_utils.Cluster``: a head with one
CPU for the driver's tasks and two worker nodes with one CPU each for the embedding actors), both with the hashing
encoder, and compares every shard file byte for byte, the passage keys (missing, extra, duplicated) and the
records. Reports each build's wall time, the driver's peak memory and the peak resident memory of every Ray worker
process (sampled every 0.5 s).

With ``--kill-driver-after S`` the Ray build's driver runs as a separate process that is killed (SIGKILL) S seconds
in, then run again to the end: the report then says how many passages the killed driver had spilled, how many the
rerun embedded, and whether that is exactly the rest.

    .venv/bin/python benchmarks/ray_equality.py --files 32 --per-file 31250 --workdir /tmp/ray-eq
    .venv/bin/python benchmarks/ray_equality.py --workdir /tmp/ray-eq --kill-driver-after 600
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import signal
import subprocess
import sys
from collections import Counter
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


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ray_driver(args) -> None:
    """(internal) The Ray build's driver in its own process, so it can be killed; writes its report."""
    from assistant.kb.ray_build import build_from_sources
    started = time.perf_counter()
    report, _ = build_from_sources([args.workdir / "pubmed"], args.workdir / "ray", model=MODEL, layout="sharded",
                                   engine="ray", address=args.address, actors=2, on_stage=say)
    (args.workdir / "driver.json").write_text(json.dumps({
        "wall_s": round(time.perf_counter() - started), "passages": report.passages, "embedded": report.embedded,
        "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))


def killed_and_rerun(args, address: str) -> dict:
    """Run the Ray build's driver, kill it ``args.kill_driver_after`` seconds in, count what it spilled, rerun."""
    from assistant.kb.embed_cache import EmbedCache
    command = [sys.executable, __file__, "--ray-driver", "--address", address, "--workdir", str(args.workdir)]
    started = time.perf_counter()
    first = subprocess.Popen(command)
    try:
        first.wait(timeout=args.kill_driver_after)
        raise SystemExit("the Ray build ended before it could be killed; give a smaller --kill-driver-after")
    except subprocess.TimeoutExpired:
        first.send_signal(signal.SIGKILL)
        first.wait()
    say(f"driver killed after {time.perf_counter() - started:.0f} s")
    spilled = set(EmbedCache(args.workdir / "ray", MODEL, "fp32", 384).load())
    live_before = (args.workdir / "ray" / "CURRENT").exists()
    subprocess.run(command, check=True)
    rerun = json.loads((args.workdir / "driver.json").read_text())
    return {"killed_after_s": args.kill_driver_after, "spilled_keys_when_killed": len(spilled),
            "current_written_by_killed_build": live_before, "rerun": rerun, "spilled": spilled,
            "total_wall_s": round(time.perf_counter() - started)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=32)
    parser.add_argument("--per-file", type=int, default=31_250)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ray-eq"))
    parser.add_argument("--kill-driver-after", type=float, default=None, metavar="S")
    parser.add_argument("--ray-driver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ray_driver:
        ray_driver(args)
        return
    from assistant.kb.ray_build import build_from_sources
    from assistant.kb.shards import Shard
    from assistant.kb.store import KnowledgeBase
    from assistant.kb.synthetic import generate

    sources = args.workdir / "pubmed"
    if not sources.is_dir():
        started = time.perf_counter()
        generate(sources, files=args.files, per_file=args.per_file, seed=17)
        say(f"generated {args.files} files in {time.perf_counter() - started:.0f} s")
    for built in ("process", "ray"):  # both builds from nothing
        shutil.rmtree(args.workdir / built, ignore_errors=True)
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
        if args.kill_driver_after:
            out["driver_killed"] = killed_and_rerun(args, cluster.address)
            out["ray"] = out["driver_killed"]["rerun"]
        else:
            remote, _ = build_from_sources([sources], args.workdir / "ray", model=MODEL, layout="sharded",
                                           engine="ray", address=cluster.address, actors=2, on_stage=say)
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
    if args.kill_driver_after:
        killed = out["driver_killed"]
        spilled = killed.pop("spilled")
        from_spill = sum(1 for k in keys_b if k in spilled)
        killed["passages_found_in_spill"] = from_spill
        killed["rerun_embedded_exactly_the_rest"] = killed["rerun"]["embedded"] == len(keys_b) - from_spill
    (args.workdir / "result.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
