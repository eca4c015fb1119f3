"""Answering: the refusal gate and the extractive composer (no language model needed)."""

from .extractive import Answerer, compose_answer

__all__ = ["Answerer", "compose_answer"]
