"""Finds the vendor packages: every folder under `providers/` with an `adapter` and a
`simulator` module. Adding a vendor is a new folder (and its `Provider` member)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

import providers
from providers.adapter import Adapter
from providers.records import Provider
from providers.simulation.base import Simulator

__all__ = ["adapter_class", "load_vendors", "simulator_class"]


@cache
def load_vendors() -> None:
    for module in pkgutil.iter_modules(providers.__path__):
        if module.ispkg and module.name != "simulation":
            importlib.import_module(f"providers.{module.name}.adapter")
            importlib.import_module(f"providers.{module.name}.simulator")


def adapter_class(provider: Provider) -> type[Adapter]:
    load_vendors()
    return Adapter.registry[provider]


def simulator_class(provider: Provider) -> type[Simulator]:
    load_vendors()
    return Simulator.registry[provider]
