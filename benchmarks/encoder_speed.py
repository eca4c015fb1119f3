"""Document encoder throughput: torch (fp32, bf16) and OpenVINO (fp32, bf16, int8) on the same SciFact passages.

The baseline is torch fp32 measured in the same run; each encoder gets a warm-up batch first and the rounds
interleave the encoders, so they share the machine's state. Prints tokens/s (tokens of the passage texts as the
model's tokenizer counts them, truncated where the model truncates), the ratio to the baseline, and each
encoder's lowest cosine to the baseline vectors.

    .venv/bin/python benchmarks/encoder_speed.py [--passages 1500] [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.encoders import encode_in_batches, get_encoder, packaged_minilm_path  # noqa: E402
from assistant.evaluate import load_beir  # noqa: E402
from assistant.passages import split_records  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
ENCODERS = [("torch", "fp32"), ("torch", "bf16"), ("openvino", "fp32"), ("openvino", "bf16"), ("openvino", "int8")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    args = parser.parse_args()
    if not args.scifact.is_dir():
        sys.exit(f"SciFact not found at {args.scifact}; pass --scifact FOLDER (BEIR layout)")
    records = load_beir(args.scifact).corpus[:args.passages]
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


if __name__ == "__main__":
    main()
