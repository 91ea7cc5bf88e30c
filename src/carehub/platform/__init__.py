"""Platform: the small shared kernel every capability builds on.

Settings, the database, errors, authentication, the audit trail, the
transactional outbox and the web shell. Nothing here knows about rosters,
publishing, councils or funding.
"""
