"""Answering: follow-up rewriting, the refusal gate, engines (extractive, local, openai) and citation checks."""

from .answerer import Answerer, compose_answer

__all__ = ["Answerer", "compose_answer"]
