"""Constructions, closed forms and analytic baselines, one module per chapter: ode (2), energy (3), looped (4)."""

from . import energy, looped, ode

__all__ = ["energy", "looped", "ode"]
