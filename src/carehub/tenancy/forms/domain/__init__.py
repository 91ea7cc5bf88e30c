"""Pure rules of forms: definitions, their validation, and which forms a branch sees."""
