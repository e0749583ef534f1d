"""Constructions, closed forms and analytic baselines, one module per chapter:
ode (2), energy (3), looped (4), universality (5), continuous_thought (7), icl (9), att_svm (10),
hypernetwork (11), induction, aspect_ratio, depth_probes and activation_sparsity (14),
graph_encodings (15)."""

from . import (
    activation_sparsity,
    aspect_ratio,
    att_svm,
    continuous_thought,
    depth_probes,
    energy,
    graph_encodings,
    hypernetwork,
    icl,
    induction,
    looped,
    ode,
    universality,
)

__all__ = [
    "activation_sparsity",
    "aspect_ratio",
    "att_svm",
    "continuous_thought",
    "depth_probes",
    "energy",
    "graph_encodings",
    "hypernetwork",
    "icl",
    "induction",
    "looped",
    "ode",
    "universality",
]
