"""Demo data: a deterministic, realistic UK home-care provider and ``carehub demo load``."""
