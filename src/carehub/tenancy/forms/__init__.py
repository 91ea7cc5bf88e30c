"""Forms: defined once per tenant and versioned, grouped into services, seen by branches through their services."""
