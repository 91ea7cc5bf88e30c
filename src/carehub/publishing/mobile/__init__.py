"""Mobile sync: workers' devices link with a one-time code and pull their published visits by cursor."""
