"""Where a sharded build's non-embedding time goes, per shard: what runs as a Ray task on the cluster
(``shard_writer.prepare_shard``: split into passages, analyse for BM25) and what stays on the build's driver
(adding the analysed passages to tantivy, writing the shard's Arrow files and vectors).

One shard of Zipf-text papers (``kb_scale.zipf_records``: 100-220 words each, as PubMed abstracts) with the hashing
encoder's token budget (none) and with MiniLM's (the packaged model's tokenizer counts every sentence). Prints
seconds per stage and the driver's share; a PubMed build is about 2,200 such shards.

    .venv/bin/python benchmarks/shard_stages.py --records 30000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="whose token budget cuts the passages")
    args = parser.parse_args()

    from kb_scale import zipf_records

    from assistant.encoders import get_encoder, token_budget_of
    from assistant.kb.passages import MAX_WORDS
    from assistant.kb.shard_writer import prepare_shard
    from assistant.kb.shards import write_shard
    from assistant.kb.tantivy_sparse import TantivyWriter, index_passages

    chunk = list(zipf_records(args.records))
    budget = token_budget_of(get_encoder(args.model))
    with tempfile.TemporaryDirectory(prefix="cqa-stages-") as tmp:
        started = time.perf_counter()
        ready = prepare_shard(chunk, MAX_WORDS, budget)
        prepare_s = time.perf_counter() - started
        vectors = np.zeros((len(ready.passages), 384), np.float32)
        writer = TantivyWriter(Path(tmp) / "sparse")
        started = time.perf_counter()
        index_passages(writer, 0, chunk, ready.passages, ready.joined)
        writer.close()
        tantivy_s = time.perf_counter() - started
        started = time.perf_counter()
        write_shard(Path(tmp) / "shard", chunk, ready.passages, ready.keys, vectors, ready.joined)
        write_s = time.perf_counter() - started
    driver = tantivy_s + write_s
    out = {"records": len(chunk), "passages": len(ready.passages), "budget": args.model,
           "ray_task_s": {"prepare (split + BM25 analysis)": round(prepare_s, 2)},
           "driver_s": {"tantivy add + commit": round(tantivy_s, 2), "write shard files": round(write_s, 2)},
           "driver_share_of_non_embedding": round(driver / (driver + prepare_s), 3),
           "driver_ms_per_passage": round(1000 * driver / len(ready.passages), 4),
           "prepare_ms_per_passage": round(1000 * prepare_s / len(ready.passages), 4)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
