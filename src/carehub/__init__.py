"""Carehub."""
