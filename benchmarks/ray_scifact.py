"""SciFact built on Ray against SciFact built in process: nDCG@10 per mode and the same top-10 papers per claim.

Builds SciFact's corpus (``../shared/eval/scifact``) with the packaged MiniLM at the build's default precision on a
local Ray cluster (a head and two worker nodes of one CPU, two embedding actors), then scores it with ``eval
retrieval``'s code (the build is up to date, so nothing is embedded again) and compares it, claim by claim, with a
knowledge base built in process (``--baseline``: one kept by ``eval retrieval --keep-index``, built the same way).

    checkpoint-qa eval retrieval --data ../shared/eval/scifact --layout sharded --keep-index /tmp/eval-scifact-sharded
    .venv/bin/python benchmarks/ray_scifact.py --baseline /tmp/eval-scifact-sharded --workdir /tmp/ray-scifact
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="the in-process build, kept by eval retrieval")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ray-scifact"))
    parser.add_argument("--data", type=Path, default=SCIFACT)
    args = parser.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    from layout_agreement import agreement

    from assistant.encoders import get_encoder
    from assistant.evaluate import evaluate_retrieval, load_beir
    from assistant.kb.ray_build import RayEmbedder, connect
    from assistant.kb.store import KnowledgeBase, build

    data = load_beir(args.data, "test")
    layout = KnowledgeBase.read_manifest(args.baseline).get("layout", "single")
    shutil.rmtree(args.workdir, ignore_errors=True)
    encoder = get_encoder()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        connect(cluster.address)
        embed = RayEmbedder(encoder.name, encoder.precision, "auto", encoder.dimension, actors=2)
        report = build(data.corpus, args.workdir, encoder, embed=embed, layout=layout)
    finally:
        ray.shutdown()
        cluster.shutdown()
    scores = {}
    for name, folder in (("in_process", args.baseline), ("ray", args.workdir)):
        result = evaluate_retrieval(data, index_dir=folder, layout=layout)
        scores[name] = {method: round(figures["ndcg@10"], 4) for method, figures in result["methods"].items()}
    out = {"layout": layout, "passages": report.passages, "embedded_on_ray": embed.embedded,
           "precision": encoder.precision, "ndcg@10": scores,
           "largest_ndcg_difference": round(max(abs(scores["ray"][m] - scores["in_process"][m])
                                                for m in scores["ray"]), 4),
           "agreement": agreement(data, args.baseline, args.workdir)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
