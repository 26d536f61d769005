"""Strawberry's schema-extension hooks, wrapped once per hook function, not once per request.

For every request and every phase (operation, parsing, validation, execution), Strawberry's
`ExtensionContextManagerBase.get_hook` wraps each extension's generator hook in a new
`contextlib.contextmanager(types.MethodType(hook, extension))`: a new function with
`functools.wraps` every time. With the schema's seven extensions, instantiating them and
building the four phases' hooks took 37-45 us a request, 28 us this way (20,000 times in a
loop, bench/RESULTS.md; a small request's whole CPU is ~600 us). The wrapper depends on the
hook function only: it is made once per function (and which extensions have a hook for a
phase, once per list of extension classes) and given the extension as its argument, which is
the same context manager:
`contextmanager(f)(extension)` is `contextmanager(MethodType(f, extension))()`.

Only synchronous generator hooks take this path (every hook of this schema's extensions);
any other kind of hook is Strawberry's own `get_hook`, unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from functools import partial
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner

__all__ = ["CachedHooksRunner"]


@functools.lru_cache(maxsize=64)  # one entry per phase and list of extension classes
def _factories(hook_name: str, kinds: tuple[type[SchemaExtension], ...]) -> tuple[Any, ...]:
    """For each extension class of the list: None (no hook for this phase), its hook's
    context-manager factory (a generator hook), or Strawberry's `get_hook` to call ("other")."""
    default = getattr(SchemaExtension, hook_name)
    factories: list[Any] = []
    for kind in kinds:
        function = getattr(kind, hook_name)
        if function is default:
            factories.append(None)
        elif inspect.isgeneratorfunction(function):
            factories.append(contextlib.contextmanager(function))
        else:
            factories.append(_OTHER)
    return tuple(factories)


_OTHER = object()  # a hook of another kind: Strawberry wraps it (`get_hook`)


class _CachedHooks(ExtensionContextManagerBase):
    __slots__ = ()

    def __init__(self, extensions: list[SchemaExtension]) -> None:
        self.default_hook = getattr(SchemaExtension, self.HOOK_NAME)
        self.hooks = []
        kinds = tuple(type(extension) for extension in extensions)
        for extension, factory in zip(extensions, _factories(self.HOOK_NAME, kinds), strict=True):
            if factory is None:
                continue
            if factory is _OTHER:
                hook = self.get_hook(extension)
                if hook is not None:
                    self.hooks.append(hook)
                continue
            self.hooks.append(
                WrappedHook(extension=extension, hook=partial(factory, extension), is_async=False)
            )


class _Operation(_CachedHooks, OperationContextManager):
    __slots__ = ()


class _Validation(_CachedHooks, ValidationContextManager):
    __slots__ = ()


class _Parsing(_CachedHooks, ParsingContextManager):
    __slots__ = ()


class _Executing(_CachedHooks, ExecutingContextManager):
    __slots__ = ()


class CachedHooksRunner(SchemaExtensionsRunner):
    """Strawberry's runner with the four phases' hooks wrapped once per hook function."""

    def operation(self) -> OperationContextManager:
        return _Operation(self.extensions)

    def validation(self) -> ValidationContextManager:
        return _Validation(self.extensions)

    def parsing(self) -> ParsingContextManager:
        return _Parsing(self.extensions)

    def executing(self) -> ExecutingContextManager:
        return _Executing(self.extensions)
