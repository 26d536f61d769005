"""Faithful fakes of the vendor APIs, for the tests, the demo mode and the benchmark.

They are kept apart from the adapters on purpose: a fake that shares code with what it tests is
not a second opinion. Nothing here imports from the rest of `providers/` (a test checks the
import graph), each simulator restates the vendor constants it needs from `vendors.md`, and the
live server never imports this package (a test checks `sys.modules`).

One module (or package) per vendor, named as the gateway's `Provider` values spell the vendor;
`base`, `faults`, `request_log` and `fake_data` are the toolkit they share.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from providers.simulators.base import Simulator

__all__ = ["Simulator", "build", "simulator_class"]

_TOOLKIT = frozenset({"base", "faults", "request_log", "fake_data"})


@cache
def _load() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name not in _TOOLKIT:
            importlib.import_module(f"{__name__}.{module.name}")


def simulator_class(vendor: str) -> type[Simulator]:
    _load()
    return Simulator.registry[vendor]


def build(vendor: str, **options: Any) -> Simulator:
    """The simulator of `vendor` (`size`, `seed`, `anchor`, `api_key`, `clock`: see `Simulator`)."""
    return simulator_class(vendor)(**options)
