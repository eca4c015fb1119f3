"""Settings, resolved in one place: defaults < configuration file < ``CHECKPOINT_QA_*`` environment < explicit
arguments. The configuration file (``config_file()``: ``$CHECKPOINT_QA_CONFIG`` or
``$XDG_CONFIG_HOME/checkpoint-qa/config.toml``) is TOML with the same names (``openai_base_url = "..."``); secrets
never go there, only in the environment.

Unknown keys are errors, never silently ignored. ``model`` defaults to ``None``, which means "the model the index
was built with" when loading and the packaged all-MiniLM-L6-v2 when building; naming a model explicitly that
differs from an index's model is an error that says how to rebuild.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError
from .limits import MAX_LIBRARY_K, MIN_SCORE_RANGE

ENV_PREFIX = "CHECKPOINT_QA_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "all-MiniLM-L6-v2"


def in_checkout() -> bool:
    """Whether the package runs from a source checkout (``index/corpus`` beside it) rather than an installed wheel."""
    return (PROJECT_ROOT / "index" / "corpus").is_dir()


def shipped_corpus_dir() -> Path:
    """The corpus that ships with Checkpoint QA: ``index/corpus`` in a checkout, package data when installed."""
    if in_checkout():
        return PROJECT_ROOT / "index" / "corpus"
    return Path(__file__).resolve().parent / "shipped_corpus"


def default_index_dir() -> Path:
    """Built files live beside the shipped corpus in a checkout, else in the user's data folder."""
    if in_checkout():
        return PROJECT_ROOT / "index" / "built"
    return data_home() / "index"


def config_file() -> Path:
    """Where the configuration file is read from (it need not exist)."""
    given = os.environ.get("CHECKPOINT_QA_CONFIG")
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "checkpoint-qa" / "config.toml"


def _file_values(known: set[str]) -> dict[str, Any]:
    """The configuration file's settings, checked like the environment's; a broken file is a one-line error."""
    import tomllib
    path = config_file()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the configuration file {path} ({exc}); fix or remove it") from None
    values = {}
    for name, value in raw.items():
        if name in {"auth", "api_key", "openai_api_key"}:
            raise ConfigError(f"{path}: secrets such as {name} are read from the environment only, never from a file")
        if name not in known:
            raise ConfigError(f"{path}: unknown setting {name!r}; known: {', '.join(sorted(known))}")
        values[name] = _coerce(f"{name} in {path}", value, _TYPES[name])
    return values


def data_home() -> Path:
    """The user's data folder for Checkpoint QA (``$XDG_DATA_HOME/checkpoint-qa``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "checkpoint-qa"


@dataclass(frozen=True)
class Settings:
    index: Path | None = None
    corpus: Path | None = None
    model: str | None = None
    k: int = 8
    min_score: float = 0.30
    max_citations: int = 3
    host: str = "127.0.0.1"
    port: int = 7860
    eutils_url: str | None = None
    mode: str = "hybrid"
    rrf_k: int = 10
    dense_weight: float = 0.8
    sparse_weight: float = 1.0
    depth: int = 100
    mmr: float = 0.0
    synonyms: Path | None = None
    engine: str = "extractive"
    llm: str | None = None
    openai_base_url: str | None = None
    max_sources: int = 6
    precision: str = "auto"
    query_encoder: str = "auto"
    document_encoder: str = "auto"

    @property
    def index_dir(self) -> Path:
        return Path(self.index) if self.index else default_index_dir()

    @property
    def corpus_dir(self) -> Path:
        return Path(self.corpus) if self.corpus else shipped_corpus_dir()


def valid_engine(name: str) -> bool:
    return name in ENGINES or any(name.startswith(p) and len(name) > len(p) for p in SERVER_ENGINES)


def _coerce(name: str, raw: Any, typ: type) -> Any:
    if raw is None:
        return None
    try:
        if typ is Path:
            return Path(raw)
        return typ(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name}={raw!r} is not a valid {typ.__name__}") from None


_TYPES = {"index": Path, "corpus": Path, "model": str, "k": int, "min_score": float, "max_citations": int,
          "host": str, "port": int, "eutils_url": str,
          "mode": str, "rrf_k": int, "dense_weight": float, "sparse_weight": float, "depth": int, "mmr": float,
          "synonyms": Path, "engine": str, "llm": str, "openai_base_url": str, "max_sources": int,
          "precision": str, "query_encoder": str, "document_encoder": str}
ENGINES = ("extractive", "local", "llamacpp", "transformers", "openai")
SERVER_ENGINES = ("ollama:", "openai:")  # followed by a model name the server lists
QUERY_ENCODERS = ("auto", "openvino", "onnx", "torch")
DOCUMENT_ENCODERS = ("auto", "openvino", "torch")
PRECISIONS = ("auto", "fp32", "bf16", "int8")
MODES = ("hybrid", "dense", "sparse")


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the environment and explicit overrides (``None`` values mean "not given")."""
    environ = os.environ if environ is None else environ
    known = {f.name for f in fields(Settings)}
    values: dict[str, Any] = _file_values(known)
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name in {"auth", "api_key"}:  # secrets read by the front ends that need them
            continue
        if name not in known:
            raise ConfigError(
                f"unknown setting {key}; known: {', '.join(ENV_PREFIX + n.upper() for n in sorted(known))}")
        values[name] = _coerce(key, raw, _TYPES[name])
    for name, raw in (overrides or {}).items():
        if name not in known:
            raise ConfigError(f"unknown setting {name!r}; known: {', '.join(sorted(known))}")
        if raw is not None:
            values[name] = _coerce(name, raw, _TYPES[name])
    settings = replace(Settings(), **values)
    if not 1 <= settings.k <= MAX_LIBRARY_K:
        raise ConfigError(f"k must be between 1 and {MAX_LIBRARY_K}, got {settings.k}")
    if settings.mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {settings.mode!r}")
    if settings.precision not in PRECISIONS:
        raise ConfigError(f"precision must be auto, fp32, bf16 or int8, got {settings.precision!r}")
    if settings.query_encoder not in QUERY_ENCODERS:
        raise ConfigError(f"query_encoder must be {', '.join(QUERY_ENCODERS[:-1])} or {QUERY_ENCODERS[-1]}, got "
                          f"{settings.query_encoder!r}")
    if settings.document_encoder not in DOCUMENT_ENCODERS:
        raise ConfigError(f"document_encoder must be {', '.join(DOCUMENT_ENCODERS[:-1])} or {DOCUMENT_ENCODERS[-1]}, "
                          f"got {settings.document_encoder!r}")
    if not valid_engine(settings.engine):
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, or ollama:MODEL or openai:MODEL (see "
                          f"checkpoint-qa engines), got {settings.engine!r}")
    lo, hi = MIN_SCORE_RANGE
    if not lo <= settings.min_score <= hi:  # also false for NaN
        raise ConfigError(f"min_score (the refusal threshold) must be between {lo} and {hi}, got {settings.min_score}")
    for name in ("dense_weight", "sparse_weight"):
        if not 0.0 <= getattr(settings, name) < float("inf"):
            raise ConfigError(f"{name} must be a finite number of at least 0, got {getattr(settings, name)}")
    if not 0.0 <= settings.mmr < 1.0:
        raise ConfigError(f"mmr must be 0 (off) or a trade-off below 1, such as 0.7; got {settings.mmr}")
    if settings.rrf_k < 1 or settings.depth < 1:
        raise ConfigError("rrf_k and depth must be positive")
    return settings
