"""What a client should see, stated by the tests from the simulators' own models.

Each vendor module reads its simulator's generated model (never the vendor JSON through the
adapter's mappers, never an adapter module) and states the unified records the adapter must
return. `select` is the meaning of a `SessionQuery`, restated here so that a filter bug in
`providers/query.py` cannot move the expected answer with it.
"""

from __future__ import annotations

import importlib

from providers.records import SessionRecord
from providers.simulators import Simulator

__all__ = ["expected_records"]


def expected_records(simulator: Simulator) -> list[SessionRecord]:
    """Every session of `simulator`, details filled, as the adapter must map it."""
    oracle = importlib.import_module(f"{__name__}.{simulator.vendor}")
    records: list[SessionRecord] = oracle.expected_records(simulator)
    return records
