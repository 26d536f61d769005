"""Samsara Agent Studio (beta): voice agents that talk to drivers, dashboard users and callers.

Sessions are discovered through a descending stream of summaries scoped by start time and agent
ids, then read in full through a batch details endpoint (vendors.md §1).
"""
