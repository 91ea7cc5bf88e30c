"""Pure rules of tenants and environments."""
