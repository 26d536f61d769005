"""Shared pieces of the vendor simulators: request log, fault knobs, seeded fake data."""
