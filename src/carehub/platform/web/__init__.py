"""The web shell: app factory pieces, sign-in, error pages and shared dependencies."""
