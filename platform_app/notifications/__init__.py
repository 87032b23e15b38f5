"""Notifications: rows with a per-recipient sequence, streamed like run events."""
