"""Encoder speed: document throughput for torch (fp32, bf16) and OpenVINO (fp32, bf16, int8) on the same SciFact
passages, then query latency for the query encoders (OpenVINO, ONNX Runtime, torch) on the SciFact claims.

The baseline is torch fp32 measured in the same run; each encoder gets a warm-up batch first and the rounds
interleave the encoders, so they share the machine's state. Prints tokens/s (tokens of the passage texts as the
model's tokenizer counts them, truncated where the model truncates), the ratio to the baseline, and each
encoder's lowest cosine to the baseline vectors. Queries are encoded one at a time, the encoders interleaved
over the rounds after 20 warm-up claims each; p50/p95 pool the rounds, the baseline is torch in fp32.

    .venv/bin/python benchmarks/encoder_speed.py [--passages 1500] [--rounds 2] [--queries-only]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.encoders import encode_in_batches, get_encoder, get_query_encoder, packaged_minilm_path  # noqa: E402
from assistant.evaluate import load_beir  # noqa: E402
from assistant.kb.passages import split_records  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
ENCODERS = [("torch", "fp32"), ("torch", "bf16"), ("openvino", "fp32"), ("openvino", "bf16"), ("openvino", "int8")]
QUERY_ENCODERS = [("torch", "fp32"), ("onnx", "fp32"), ("openvino", "fp32"), ("openvino", "auto")]


def query_latency(queries: list[str], rounds: int) -> None:
    import statistics
    encoders = {key: get_query_encoder(precision=key[1], backend=key[0]) for key in QUERY_ENCODERS}
    samples: dict = {key: [] for key in QUERY_ENCODERS}
    vectors: dict = {}
    for _ in range(rounds):
        for key, encoder in encoders.items():
            for text in queries[:20]:
                encoder.encode_batch([text])
            rows = []
            for text in queries:
                started = time.perf_counter()
                rows.append(encoder.encode_batch([text])[0])
                samples[key].append(time.perf_counter() - started)
            vectors[key] = np.vstack(rows)
    base = QUERY_ENCODERS[0]
    p50 = {key: statistics.median(s) * 1000 for key, s in samples.items()}
    print(f"\n{len(queries)} SciFact claims, one at a time, {rounds} interleaved rounds")
    print(f"{'query encoder':<22} {'p50 ms':>7} {'p95 ms':>7} {'vs torch fp32':>14} {'min cosine':>11}")
    for key, encoder in encoders.items():
        p95 = sorted(samples[key])[int(0.95 * (len(samples[key]) - 1))] * 1000
        cosine = float((vectors[key] * vectors[base]).sum(axis=1).min())
        print(f"{key[0] + ' ' + encoder.precision:<22} {p50[key]:>7.2f} {p95:>7.2f} {p50[base] / p50[key]:>13.2f}x "
              f"{cosine:>11.5f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--queries-only", action="store_true", help="only the query encoders")
    args = parser.parse_args()
    if not args.scifact.is_dir():
        sys.exit(f"SciFact not found at {args.scifact}; pass --scifact FOLDER (BEIR layout)")
    data = load_beir(args.scifact, "test")
    queries = [text for _, text in sorted(data.queries.items())]
    if args.queries_only:
        return query_latency(queries, args.rounds)
    records = data.corpus[:args.passages]
    texts = [p.text for p in split_records(records)][:args.passages]
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(str(packaged_minilm_path() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=256)
    tokens = sum(len(e.ids) for e in tokenizer.encode_batch(texts))
    encoders = {(b, p): get_encoder(precision=p, backend=b) for b, p in ENCODERS}
    best: dict = {}
    vectors: dict = {}
    for encoder in encoders.values():
        encoder.encode_batch(texts[:64])
    for _ in range(args.rounds):
        for key, encoder in encoders.items():
            started = time.perf_counter()
            vectors[key] = encode_in_batches(encoder, texts)
            best[key] = min(best.get(key, float("inf")), time.perf_counter() - started)
    base = ENCODERS[0]
    print(f"{len(texts)} SciFact passages, {tokens} tokens, best of {args.rounds} interleaved rounds")
    print(f"{'encoder':<18} {'tokens/s':>9} {'vs torch fp32':>14} {'min cosine':>11}")
    for key in ENCODERS:
        cosine = float((vectors[key] * vectors[base]).sum(axis=1).min())
        print(f"{key[0] + ' ' + key[1]:<18} {tokens / best[key]:>9.0f} {best[base] / best[key]:>13.2f}x "
              f"{cosine:>11.5f}")
    query_latency(queries, args.rounds)


if __name__ == "__main__":
    main()
