"""Data generators: every task makes its own data from a seed; nothing is downloaded."""

from .algorithmic import DigitTask

__all__ = ["DigitTask"]
