"""How the refusal threshold was chosen: best retrieval cosine for on- and off-topic questions, and a sweep.

Uses the question sets in ``tests/data`` against the shipped knowledge base (``make index`` first) and prints,
for each threshold, the share of on-topic questions answered and off-topic ones refused, then the midpoint of
the gap between the two groups.

    .venv/bin/python benchmarks/refusal_threshold.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import Retriever  # noqa: E402


def best_scores(retriever: Retriever, questions: list[str]) -> list[float]:
    return [max(h.dense_score for h in retriever.search(q, k=8)) for q in questions]


def main() -> None:
    retriever = Retriever.load()
    load = lambda name: [q.strip() for q in (ROOT / "tests" / "data" / name).read_text().splitlines() if q.strip()]  # noqa
    on, off = best_scores(retriever, load("on_topic_questions.txt")), best_scores(retriever, load("off_topic_questions.txt"))
    print(f"on-topic  ({len(on)}): min {min(on):.3f}  median {sorted(on)[len(on) // 2]:.3f}  max {max(on):.3f}")
    print(f"off-topic ({len(off)}): min {min(off):.3f}  median {sorted(off)[len(off) // 2]:.3f}  max {max(off):.3f}")
    print("threshold  answered-on  refused-off")
    for t in [x / 20 for x in range(2, 12)]:
        print(f"{t:9.2f}  {sum(s >= t for s in on) / len(on):11.0%}  {sum(s < t for s in off) / len(off):11.0%}")
    print(f"midpoint of the gap: {(max(off) + min(on)) / 2:.3f}")


if __name__ == "__main__":
    main()
