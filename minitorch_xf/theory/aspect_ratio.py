r"""Chapter 14: equal-parameter width x depth configurations and their parameter and FLOP counts."""

from __future__ import annotations

__all__: list[str] = []
