"""Do two knowledge bases of the same corpus rank alike? Same top-10 papers per query, per mode.

Meant for the single and the sharded layout of one benchmark corpus, both kept by ``eval retrieval --keep-index``:

    checkpoint-qa eval retrieval --data ../shared/eval/scifact --keep-index /tmp/eval-scifact
    checkpoint-qa eval retrieval --data ../shared/eval/scifact --keep-index /tmp/eval-scifact-sharded --layout sharded
    .venv/bin/python benchmarks/layout_agreement.py ../shared/eval/scifact /tmp/eval-scifact /tmp/eval-scifact-sharded

Queries are encoded once, as ``eval retrieval`` encodes them, and given to both.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def agreement(data, first: Path, second: Path) -> dict:
    """Per mode, for how many of ``data``'s queries the two knowledge bases give the same top-10 papers (and in the
    same order)."""
    from assistant.config import load_settings
    from assistant.encoders import get_query_encoder
    from assistant.encoders.base import encode_in_batches
    from assistant.kb.store import KnowledgeBase
    from assistant.retriever import Retriever

    settings = load_settings({})
    bases = [KnowledgeBase.load(first), KnowledgeBase.load(second)]
    encoder = get_query_encoder(bases[0].manifest["model"], settings.precision, settings.query_encoder)
    retrievers = [Retriever(kb, encoder, settings) for kb in bases]
    ids = list(data.queries)
    vectors = encode_in_batches(encoder, [data.queries[q] for q in ids])
    out = {"queries": len(ids), "layouts": [kb.manifest.get("layout", "single") for kb in bases]}
    for mode in ("sparse", "dense", "hybrid"):
        same = in_order = 0
        for i, q in enumerate(ids):
            first, second = ([h.record.id for h in r.search(data.queries[q], 10, mode=mode, vector=vectors[i],
                                                             matches=False)] for r in retrievers)
            same += set(first) == set(second)
            in_order += first == second
        out[mode] = {"same_top10_papers": same, "same_order": in_order}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    from assistant.evaluate import load_beir
    print(json.dumps(agreement(load_beir(args.data, args.split), args.first, args.second), indent=2))


if __name__ == "__main__":
    main()
