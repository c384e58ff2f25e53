"""Doors translate a wire format into Session calls and back; they hold no conversation logic."""
