"""First against second start of the local engine (packaged Gemma 3 270M), measured in the same run.

Each start is a fresh process with an empty (first) or warm (second) model cache in a temporary folder, asking
the same question of the shipped knowledge base (build it first: ``make index``). Prints load time, time to first
token, total time and the ratio second/first.

    .venv/bin/python benchmarks/local_start.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Does loss of interferon gamma pathway genes cause resistance to anti-CTLA-4 therapy?"
PROBE = """
import json, sys, time
started = time.perf_counter()
from assistant import Retriever, load_settings
from assistant.answer import Answerer
answerer = Answerer(Retriever.load(), load_settings({"engine": "local"}))
answerer.engine._load()
loaded = time.perf_counter()
first = None
for text, answer in answerer.stream(sys.argv[1]):
    if first is None and answer is None:
        first = time.perf_counter()
done = time.perf_counter()
print(json.dumps({"load_s": loaded - started, "first_token_s": (first or done) - started, "total_s": done - started,
                  "from": answerer.engine.loaded_from, "refused": answer.refused, "answer": answer.text}))
"""


def run(cache: str) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": cache, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PROBE, QUESTION], env=env, capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        first, second = run(cache), run(cache)
    for name, r in (("first start", first), ("second start", second)):
        print(f"{name:13} (weights from {r['from']:5}): load {r['load_s']:6.1f} s, first token "
              f"{r['first_token_s']:6.1f} s, total {r['total_s']:6.1f} s")
    print(f"second/first: load {second['load_s'] / first['load_s']:.2f}x, "
          f"total {second['total_s'] / first['total_s']:.2f}x")
    print(f"answer: {second['answer']}")


if __name__ == "__main__":
    main()
