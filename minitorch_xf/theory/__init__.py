"""Constructions, closed forms and analytic baselines, one module per chapter:
ode (2), energy (3), looped (4), universality (5), continuous_thought (7), icl (9), att_svm (10),
hypernetwork (11)."""

from . import att_svm, continuous_thought, energy, hypernetwork, icl, looped, ode, universality

__all__ = ["att_svm", "continuous_thought", "energy", "hypernetwork", "icl", "looped", "ode", "universality"]
