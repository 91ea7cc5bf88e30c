"""Roster service layer: every roster change and read goes through here."""
