"""Users, roles and branch grants: who may see which branches (seed 001, role-based access)."""
