"""PLACEHOLDER: to be replaced by an oracle independent of the adapter's mappers."""

from __future__ import annotations

from typing import Any

from providers.records import SessionRecord


def expected_records(simulator: Any) -> list[SessionRecord]:
    records: list[SessionRecord] = simulator.ground_truth()
    return records
