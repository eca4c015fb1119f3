"""Side by side: Checkpoint QA against LangChain (FAISS vector store), LlamaIndex and txtai.

Same abstracts (every SciFact test-relevant abstract plus the first others up to ``--docs``, from
``../shared/eval/scifact``), the same all-MiniLM-L6-v2 folder, the same SciFact test queries, on this machine's
CPU. Each run is a fresh process (``peer_systems.py``); rounds interleave the systems in a rotating order, so
they share the machine's state. The peers are installed by this script into their own environment
(``.venv-peers``, pinned below), never into the product's. Reported per system: build time and tokens/s (tokens
of the texts each system embeds, as the model's tokenizer counts them, truncated at 256), query p50/p95 (encoding
plus top-10 search, one query at a time), nDCG@10 on the queries, and the ratios against the best peer: build
speed as tokens/s (the peers cut each abstract at 256 tokens, we embed all of it in overlapping passages, so the
same abstracts are more work for us) with the wall-clock ratio beside it, and query p50. Build times are each
system's best round; query percentiles pool every round.

    .venv/bin/python benchmarks/compare_peers.py [--docs 2000] [--rounds 2] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.encoders import packaged_minilm_path  # noqa: E402
from assistant.evaluate import load_beir, ndcg_at  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
PEERS_VENV = ROOT / ".venv-peers"
PEERS = ("langchain", "llamaindex", "txtai")
OURS = "checkpoint-qa"
OURS_BF16 = "checkpoint-qa-bf16"  # the same product with CHECKPOINT_QA_PRECISION=bf16 (default: auto)
PEER_REQUIREMENTS = ["langchain-community==0.4.2", "langchain-huggingface==1.2.3", "faiss-cpu==1.15.1",
                     "llama-index-core==0.14.25", "llama-index-embeddings-huggingface==0.8.0", "txtai==9.14.0",
                     "sentence-transformers==6.2.0", "transformers==5.24.0"]
TORCH = "torch==2.13.0"  # the CPU build, installed first so nothing pulls a CUDA build
WARMUP = ["PD-1 blockade resistance", "interferon gamma signalling", "T cell exhaustion markers",
          "gut microbiome", "tumour mutational burden", "JAK1 loss", "beta-2-microglobulin", "TGF-beta",
          "regulatory T cells", "antigen presentation"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_peers_env(venv: Path) -> Path:
    """Create (once) the peers' environment; a stamp of the requirements says whether it is current."""
    python = venv / "bin" / "python"
    stamp = venv / ".requirements"
    wanted = hashlib.sha256("\n".join([TORCH, *PEER_REQUIREMENTS]).encode()).hexdigest()
    if python.exists() and stamp.is_file() and stamp.read_text().strip() == wanted:
        return python
    log(f"installing LangChain, LlamaIndex and txtai into {venv} (once; a few minutes)")
    steps = [[sys.executable, "-m", "venv", str(venv)],
             [str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"],
             [str(python), "-m", "pip", "install", "-q", TORCH],
             [str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            sys.exit(f"could not set up the peers' environment ({' '.join(step[-3:])}): {' | '.join(tail)}")
    stamp.write_text(wanted)
    return python


def select_data(folder: Path, n_docs: int) -> tuple[dict, dict]:
    data = load_beir(folder, "test")
    relevant = {d for judged in data.qrels.values() for d in judged}
    chosen = [r for r in data.corpus if r.id in relevant]
    chosen += [r for r in data.corpus if r.id not in relevant][:max(0, n_docs - len(chosen))]
    payload = {"model": "all-MiniLM-L6-v2", "model_path": str(packaged_minilm_path()),
               "docs": [{"id": r.id, "title": r.title, "text": r.text} for r in chosen],
               "queries": sorted(data.queries.items()), "warmup": WARMUP}
    return payload, data.qrels


def run_once(system: str, python: str, data_path: Path, workdir: Path, round_no: int) -> dict:
    out = workdir / f"{system}-{round_no}.json"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([python, str(Path(__file__).with_name("peer_systems.py")), system, str(data_path),
                           str(out)], capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-5:]
        sys.exit(f"{system} failed in round {round_no}:\n  " + "\n  ".join(tail))
    return json.loads(out.read_text(encoding="utf-8"))


def count_tokens(texts: list[str], tokenizer) -> int:
    return sum(len(e.ids) for e in tokenizer.encode_batch(texts))


def summarise(runs: dict[str, list[dict]], qrels: dict, tokenizer, n_docs: int) -> dict:
    rows = {}
    for system, results in runs.items():
        first = results[0]
        times = sorted(t for r in results for t in r["query_s"])
        build_s = min(r["build_s"] for r in results)
        tokens = count_tokens(first["texts"], tokenizer)
        ndcg = statistics.fmean(ndcg_at(first["rankings"][q], qrels[q], 10) for q in first["rankings"])
        rows[system] = {"build_s": round(build_s, 2), "build_tokens": tokens,
                        "build_tokens_per_s": round(tokens / build_s), "docs_per_s": round(n_docs / build_s, 1),
                        "query_p50_ms": round(statistics.median(times) * 1000, 2),
                        "query_p95_ms": round(times[int(0.95 * (len(times) - 1))] * 1000, 2),
                        "ndcg_at_10": round(ndcg, 4), "model_load_s": round(min(r["load_s"] for r in results), 2),
                        "version": first.get("version"),
                        **{k: first[k] for k in ("precision", "document_encoder", "query_encoder", "passages", "mode") if k in first}}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=2000, help="abstracts to index (at least the relevant ones)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (each system once per round)")
    parser.add_argument("--scifact", type=Path, default=SCIFACT, help="SciFact in the BEIR layout")
    parser.add_argument("--peers-venv", type=Path, default=PEERS_VENV)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if not args.scifact.is_dir():
        sys.exit(f"SciFact not found at {args.scifact}; pass --scifact FOLDER (BEIR layout)")
    peers_python = str(ensure_peers_env(args.peers_venv))
    payload, qrels = select_data(args.scifact, args.docs)
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(str(packaged_minilm_path() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.no_padding()
    systems = [OURS, OURS_BF16, *PEERS]
    pythons = {OURS: sys.executable, OURS_BF16: sys.executable, **{p: peers_python for p in PEERS}}
    runs: dict[str, list[dict]] = {s: [] for s in systems}
    with tempfile.TemporaryDirectory() as tmp:
        data_path = Path(tmp) / "data.json"
        data_path.write_text(json.dumps(payload), encoding="utf-8")
        for round_no in range(args.rounds):
            order = systems[round_no % len(systems):] + systems[:round_no % len(systems)]
            for system in order:
                log(f"round {round_no + 1}/{args.rounds}: {system}")
                runs[system].append(run_once(system, pythons[system], data_path, Path(tmp), round_no))
    rows = summarise(runs, qrels, tokenizer, len(payload["docs"]))
    best_build = max(PEERS, key=lambda p: rows[p]["build_tokens_per_s"])
    best_query = min(PEERS, key=lambda p: rows[p]["query_p50_ms"])
    figures = {
        "docs": len(payload["docs"]), "queries": len(payload["queries"]), "rounds": args.rounds,
        "systems": rows, "best_build_peer": best_build, "best_query_peer": best_query,
        # Build speed is throughput, tokens embedded per second, as the peers truncate each abstract at 256 tokens
        # and we embed all of it; the wall-clock ratio for the same abstracts is reported beside it.
        "build_speedup_vs_best_peer": round(rows[OURS]["build_tokens_per_s"] / rows[best_build]["build_tokens_per_s"],
                                            2),
        "build_time_ratio_vs_best_peer": round(rows[best_build]["build_s"] / rows[OURS]["build_s"], 2),
        "build_speedup_vs_best_peer_bf16": round(rows[OURS_BF16]["build_tokens_per_s"]
                                                 / rows[best_build]["build_tokens_per_s"], 2),
        "build_time_ratio_vs_best_peer_bf16": round(rows[best_build]["build_s"] / rows[OURS_BF16]["build_s"], 2),
        "query_speedup_vs_best_peer": round(rows[best_query]["query_p50_ms"] / rows[OURS]["query_p50_ms"], 2),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{figures['docs']} SciFact abstracts, {figures['queries']} queries, {args.rounds} interleaved rounds, "
          f"all-MiniLM-L6-v2 on the CPU")
    print(f"{'system':<19} {'build s':>8} {'docs/s':>7} {'tokens/s':>9} {'query p50':>10} {'p95':>8} {'nDCG@10':>8}")
    for system in systems:
        r = rows[system]
        print(f"{system:<19} {r['build_s']:>8.1f} {r['docs_per_s']:>7.1f} {r['build_tokens_per_s']:>9} "
              f"{r['query_p50_ms']:>8.2f}ms {r['query_p95_ms']:>6.2f}ms {r['ndcg_at_10']:>8.4f}")
    print(f"build: {figures['build_speedup_vs_best_peer']:.2f}x the tokens/s of the best peer ({best_build}), "
          f"{figures['build_time_ratio_vs_best_peer']:.2f}x its speed per abstract (we embed every token, it "
          f"truncates at 256); query: {figures['query_speedup_vs_best_peer']:.2f}x faster than the best peer "
          f"({best_query}); in bf16: {figures['build_speedup_vs_best_peer_bf16']:.2f}x the tokens/s, "
          f"{figures['build_time_ratio_vs_best_peer_bf16']:.2f}x per abstract")


if __name__ == "__main__":
    main()
