"""Roster core: the record of what rostering systems say, per environment.

``domain/`` holds the rules (pure), ``tables.py`` maps records onto the
database, ``service/`` changes and reads them, and ``api.py``, ``web.py`` and
``cli.py`` are thin entry points over the service layer.
"""
