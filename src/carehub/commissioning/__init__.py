"""The council provider portal (seed 002).

Care package line items, the commissioned care export, carers and visits bulk
imports with a confirm step, and overnight matching. Built in its own issue.
"""
