"""Embedding throughput on Ray against the in-process encoder: 1 and 2 embedding actors on a local cluster.

The project's own document encoder (MiniLM, the build's default precision) embeds the passages of SciFact abstracts
(``../shared/eval/scifact``; the shipped corpus repeated when it is missing): first in a process pinned to one core
(``taskset``, one OpenVINO stream on one thread and a one-thread tokenizer, as an actor runs), then through
``kb.ray_build.RayEmbedder`` on a ``ray.cluster_utils.Cluster`` whose two worker nodes have one CPU each, with one
actor and with two. Reports, over the steady state (from the first batch back, once the actors are up, to the last):
word pieces per second; the per-core rate against the pinned process two ways, per core of wall time (what a core
given to the build yields, the driver's and Ray's share included) and per CPU-second the actors used (the actors'
own efficiency, as issue 20 measured it); the speed-up from 1 to 2 actors; the CPU shares of Ray's own processes
(raylets, GCS, dashboard agents, Ray Data's tasks and actors), of the driver, and left idle; and the cosine of each
Ray vector to the in-process build's. The last batches keep one actor busy while the other has nothing left (a few
percent with 8,000 passages), while the window, opened by the first batch back, counts the other actors' first
batches, mostly done before it: the two are each about one batch in 40 at 10,000 passages and roughly cancel, but
they dominate small samples, so fewer than 10 batches per actor is refused. This machine's speed drifts by up to 10%
over minutes, so ``--order 1,2,2,1`` runs each count twice, around the middle, and measures the pinned core before
and after; the figures are the means. Last, with the cluster gone, one pinned process on each core at once gives the
speed-up the two cores allow with no Ray at all.

    .venv/bin/python benchmarks/ray_scaling.py --passages 11000 --order 1,2,2,1   # the defaults: about 33 minutes
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

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


def pinned(n: int, cores: tuple[int, ...] = (0,)) -> list[dict]:
    """One child per core, each pinned to its core and set up as an actor is (one OpenVINO stream, a one-thread
    tokenizer), all starting to embed at the same moment: word pieces per second of each."""
    code = ("import json,sys,time; sys.path.insert(0, %r); sys.path.insert(0, %r)\n"
            "from ray_scaling import texts\nfrom assistant.encoders import get_encoder, token_budget_of\n"
            "t = texts(%d); e = get_encoder(); e.encode_batch(t[:64])\n"
            "wp = sum(token_budget_of(e).count(t)); print('ready', flush=True); sys.stdin.readline()\n"
            "s = time.perf_counter(); e.encode_batch(t)\n"
            "print(json.dumps({'word_pieces': wp, 'seconds': time.perf_counter() - s, 'encoder': e.name,"
            " 'precision': getattr(e, 'precision', '?')}))") % (str(ROOT), str(ROOT / "benchmarks"), n)
    from assistant.kb.ray_build import cpu_environment
    env = {**os.environ, **cpu_environment(1)}
    children = [subprocess.Popen(["taskset", "-c", str(core), sys.executable, "-c", code], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
                for core in cores]
    for child in children:
        while child.stdout.readline().strip() != "ready":
            if child.poll() is not None:
                raise SystemExit("the pinned encoder failed to start")
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    return [json.loads(child.communicate()[0].strip().splitlines()[-1]) for child in children]


def kind(pid: int, title: str) -> str | None:
    if "EmbedActor" in title:
        return "actors"
    if pid == os.getpid():
        return "driver"
    if title.startswith("ray::") or any(n in title for n in ("raylet", "gcs_server", "ray/_private", "ray/dashboard")):
        return "ray"
    return None


class CpuMeter:
    """CPU seconds used by the embedding actors, the driver and Ray's own processes, sampled every second as a time
    series (a process that ends keeps its last sample), so a window (the steady state) can be read back. It reads
    ``/proc`` itself, about 3 ms a sample: through psutil, four samples a second took 2-3% of one core from the
    build it measured. Command lines are read every time, because Ray retitles a worker when it becomes
    an actor. Its own CPU is reported apart (``meter``) and not counted as the driver's."""

    TICKS = os.sysconf("SC_CLK_TCK")

    def __init__(self, every: float = 1.0):
        self.every = every
        self.own = 0.0  # CPU seconds of the sampling thread
        self.first = self._sample()
        self.last = dict(self.first)
        self.series: list[tuple[float, dict[str, float]]] = []
        self.snapshots: list[tuple[float, dict[int, tuple[float, str]]]] = []  # every process's CPU, each sample
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _sample(self) -> dict[int, tuple[float, str]]:
        found = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            try:
                stat = Path(f"/proc/{pid}/stat").read_bytes()
                title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            fields = stat[stat.rindex(b")") + 2:].split()  # after the command name, which may hold spaces
            found[pid] = ((int(fields[11]) + int(fields[12])) / self.TICKS, title.strip())
        return found

    def _totals(self) -> dict[str, float]:
        totals = {"actors": 0.0, "driver": 0.0, "ray": 0.0}
        for pid, (cpu, title) in self.last.items():
            k = kind(pid, title)
            if k:
                totals[k] += cpu - self.first.get(pid, (0.0, ""))[0]
        return totals

    def _run(self) -> None:
        while not self.stop.is_set():
            started = time.thread_time()
            self.last.update(self._sample())
            now = time.perf_counter()
            self.series.append((now, self._totals() | {"meter": self.own}))
            self.snapshots.append((now, dict(self.last)))
            self.own += time.thread_time() - started
            self.stop.wait(self.every)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join()

    def between(self, t0: float, t1: float) -> dict[str, float]:
        """CPU seconds of each kind from the sample nearest ``t0`` to the one nearest ``t1``."""
        def at(t):
            return min(self.series, key=lambda item: abs(item[0] - t))
        (s0, a), (s1, b) = at(t0), at(t1)
        return {k: b[k] - a[k] for k in a} | {"seconds": s1 - s0}

    def top(self, t0: float | None = None, t1: float | None = None, n: int = 8) -> dict[str, float]:
        """Ray's own processes that used the most CPU, over the whole run or from the sample nearest ``t0`` to the
        one nearest ``t1``."""
        def at(t):
            return min(self.snapshots, key=lambda item: abs(item[0] - t))[1]
        start = self.first if t0 is None else at(t0)
        end = self.last if t1 is None else at(t1)
        used: dict[str, float] = {}
        for pid, (cpu, title) in end.items():
            if kind(pid, title) != "ray":
                continue
            words = title.split()
            name = words[0] if title.startswith("ray::") else words[0].rsplit("/", 1)[-1]
            if "python" in name:
                name = " ".join(words[:2]).rsplit("/", 1)[-1]
            used[name] = used.get(name, 0.0) + cpu - start.get(pid, (0.0, ""))[0]
        return {k: round(v, 2) for k, v in sorted(used.items(), key=lambda kv: -kv[1])[:n]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=11000)
    parser.add_argument("--batch", type=int, default=256, help="texts an actor embeds at a time")
    parser.add_argument("--order", type=lambda text: [int(n) for n in text.split(",")], default=[1, 2, 2, 1],
                        help="actor counts in the order they run (1,2,2,1 cancels the machine's drift)")
    args = parser.parse_args()
    import ray
    from ray.cluster_utils import Cluster

    from assistant.encoders import get_encoder, token_budget_of
    from assistant.kb.ray_build import RayEmbedder, connect, quiet_environment

    sample = texts(args.passages)
    encoder = get_encoder()
    counts = token_budget_of(encoder).count(sample)
    word_pieces = sum(counts)
    one_core = pinned(args.passages)[0]
    base = one_core["word_pieces"] / one_core["seconds"]
    result = {"passages": len(sample), "word_pieces": word_pieces, "encoder": f"{encoder.name} "
              f"({getattr(encoder, 'backend', '?')}, {getattr(encoder, 'precision', '?')})",
              "in_process_one_core_wp_per_s": round(base)}
    # as ``connect`` starts a cluster (no usage reports, node reports once a minute, no metrics) and as the README
    # has ``ray start`` nodes for a build: no log monitor, since the build does not stream workers' logs
    quiet_environment()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            "include_log_monitor": False})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1, include_log_monitor=False)
        connect(cluster.address)
        runs = []
        for actors in args.order:
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
            meter.finish()
            # steady state: from the first batch back (actors started, model loaded) to the last
            cpu = meter.between(arrivals[0][0], arrivals[-1][0])
            if len(arrivals) < 10 * actors or cpu["seconds"] <= 0:
                raise SystemExit(f"{len(sample)} passages came back in {len(arrivals)} batches, too few for a "
                                 f"steady state with {actors} actors; use --passages {10 * actors * args.batch} "
                                 "or more")
            rate = sum(wp for _, wp in arrivals[1:]) / (arrivals[-1][0] - arrivals[0][0])
            cpu["driver"] -= cpu["meter"]  # the sampling thread runs in the driver's process
            total = max(cpu["actors"] + cpu["ray"] + cpu["driver"] + cpu["meter"], 1e-9)
            runs.append({"actors": actors, "seconds_with_start": round(seconds, 1), "wp_per_s": round(rate),
                         "actor_wp_per_cpu_s": round(rate * cpu["seconds"] / max(cpu["actors"], 1e-9)),
                         "ray_cpu_share": round(cpu["ray"] / total, 3),
                         "driver_cpu_share": round(cpu["driver"] / total, 3),
                         "meter_cpu_share": round(cpu["meter"] / total, 4),
                         "idle_share": round(max(0.0, 1 - total / (os.cpu_count() * cpu["seconds"])), 3),
                         "ray_processes_cpu_s": meter.top(),
                         "ray_processes_cpu_s_steady": meter.top(arrivals[0][0], arrivals[-1][0])})
        if len(args.order) > 2:  # the machine's speed drifts: measure the pinned core again after the runs
            again = pinned(args.passages)[0]
            result["in_process_one_core_wp_per_s_after"] = round(again["word_pieces"] / again["seconds"])
            base = (base + again["word_pieces"] / again["seconds"]) / 2
        result["runs"] = runs
        for actors in sorted(set(args.order)):
            mine = [r for r in runs if r["actors"] == actors]
            rate = statistics.mean(r["wp_per_s"] for r in mine)
            result[f"{actors}_actors"] = {
                "wp_per_s": round(rate), "per_core_vs_in_process": round(rate / actors / base, 3),
                "per_actor_cpu_second_vs_in_process": round(statistics.mean(
                    r["actor_wp_per_cpu_s"] for r in mine) / base, 3),
                **{share: round(statistics.mean(r[share] for r in mine), 3)
                   for share in ("ray_cpu_share", "driver_cpu_share", "meter_cpu_share", "idle_share")}}
        if {1, 2} <= set(args.order):
            result["speedup_2_over_1"] = round(result["2_actors"]["wp_per_s"] / result["1_actors"]["wp_per_s"], 2)
        local = encoder.encode_batch(sample)  # the in-process build's vectors (every core, its own streams)
        cosines = (local * vectors).sum(axis=1)
        result["cosine_ray_vs_in_process"] = {"min": round(float(cosines.min()), 5),
                                              "mean": round(float(cosines.mean()), 6)}
    finally:
        ray.shutdown()
        cluster.shutdown()
    # what the two cores give with no Ray at all: one pinned process on each, at once, against the one just before
    single = result.get("in_process_one_core_wp_per_s_after", result["in_process_one_core_wp_per_s"])
    both = sum(child["word_pieces"] / child["seconds"] for child in pinned(args.passages, (0, 1)))
    result["in_process_two_cores_at_once_wp_per_s"] = round(both)
    result["hardware_speedup_2_over_1"] = round(both / single, 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
