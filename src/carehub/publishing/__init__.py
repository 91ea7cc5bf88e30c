"""Publishing to care planning (seed 000).

Decides, rule by rule, what the care-planning tenant and care workers' phones
receive, keeps it in step with the roster, and explains why a record does not
publish. Consumes roster events; built in its own issue.
"""
