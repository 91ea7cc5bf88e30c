"""NDIS PACE funding sync (seed 003).

Retrieves a participant's PACE plan and turns chosen budgets into a service
contract with delivered-service adjustment records. Built in its own issue.
"""
