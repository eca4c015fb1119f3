"""The two local paths on the packaged Gemma 3 270M GGUF, measured in the same run: llama.cpp against transformers.

Each start is a fresh process asking the same question of the shipped knowledge base (build it first: ``make
index``): a cold start with an empty model cache (the GGUF is assembled from its packages; transformers also
de-quantises it and saves the result), then a warm start with that cache. Printed per path and start: model load,
time to first text (from the start of loading the model to the first answer text), tokens per second while
generating (first to last piece the engine streams), and the ratios llama.cpp / transformers.

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
from assistant import Retriever, load_settings
from assistant.answer import Answerer
answerer = Answerer(Retriever.load(), load_settings({"engine": sys.argv[2]}))
answerer.retriever.embed_query("warm up")
started = time.perf_counter()
answerer.engine._load()
loaded = time.perf_counter()
first = generating = last = None
for text, answer in answerer.stream(sys.argv[1]):
    if answer is None:
        last = time.perf_counter()
        generating = generating or last
    if first is None and answer is None and text.strip():
        first = time.perf_counter()
done = time.perf_counter()
tokens = answerer.engine.tokens
print(json.dumps({"load_s": loaded - started, "first_text_s": (first or done) - started,
                  "tokens_per_s": tokens / max((last or done) - (generating or loaded), 1e-9), "tokens": tokens,
                  "backend": answerer.engine.backend, "refused": answer.refused, "answer": answer.text}))
"""


def run(engine: str, cache: str) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": cache, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PROBE, QUESTION, engine], env=env, capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    results = {}
    for engine in ("llamacpp", "transformers"):
        with tempfile.TemporaryDirectory() as cache:
            results[engine] = {"cold": run(engine, cache), "warm": run(engine, cache)}
    print(f"{'path':13} {'start':5} {'load':>8} {'first text':>11} {'tokens/s':>9}")
    for engine, starts in results.items():
        for start, r in starts.items():
            print(f"{r['backend']:13} {start:5} {r['load_s']:7.2f}s {r['first_text_s']:10.2f}s "
                  f"{r['tokens_per_s']:9.1f}")
    fast, slow = results["llamacpp"], results["transformers"]
    for start in ("cold", "warm"):
        print(f"llama.cpp / transformers, {start}: load {fast[start]['load_s'] / slow[start]['load_s']:.3f}x, "
              f"first text {fast[start]['first_text_s'] / slow[start]['first_text_s']:.3f}x, "
              f"tokens/s {fast[start]['tokens_per_s'] / slow[start]['tokens_per_s']:.1f}x")
    for engine, starts in results.items():
        print(f"{engine} answer: {starts['warm']['answer']}")


if __name__ == "__main__":
    main()
