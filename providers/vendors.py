"""Finds the vendor adapters: every folder under `providers/` with an `adapter` module (the
`simulators` package, the fakes, is not a vendor). Adding a vendor is a new folder, its
`Provider` member and its simulator under `providers/simulators/`."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

import providers
from providers.adapter import Adapter
from providers.records import Provider

__all__ = ["adapter_class", "load_vendors"]


@cache
def load_vendors() -> None:
    for module in pkgutil.iter_modules(providers.__path__):
        if module.ispkg and module.name != "simulators":
            importlib.import_module(f"providers.{module.name}.adapter")


def adapter_class(provider: Provider) -> type[Adapter]:
    load_vendors()
    return Adapter.registry[provider]
