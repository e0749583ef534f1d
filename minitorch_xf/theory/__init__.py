"""Constructions, closed forms and analytic baselines: one module per chapter."""
