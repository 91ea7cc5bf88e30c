"""Publishing rules: which roster records reach care planning, as pure functions."""
