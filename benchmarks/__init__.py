"""Carehub benchmarks: run with ./dev bench."""
