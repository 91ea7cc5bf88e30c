"""Tenancy: the care-planning tenant and its connected rostering environments."""
