"""Constructions, closed forms and analytic baselines, one module per chapter:
ode (2), energy (3), looped (4), universality (5), icl (9)."""

from . import energy, icl, looped, ode, universality

__all__ = ["energy", "icl", "looped", "ode", "universality"]
