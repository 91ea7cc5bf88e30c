"""Delivering outbox events to tenants' webhook subscribers: signed, in order per record, at least once.

See docs/delivery.md. ``tables`` holds the subscriptions, deliveries and
attempts; ``service`` the audited changes and the reads; ``fanout``, ``store``,
``transport`` and ``worker`` the delivery loop of ``carehub worker``; ``api``,
``web`` and ``cli`` are the entry points.
"""
