"""Constructions, closed forms and analytic baselines, one module per chapter:
ode (2), energy (3), looped (4), universality (5)."""

from . import energy, looped, ode, universality

__all__ = ["energy", "looped", "ode", "universality"]
