"""Lookahead: what the client's selection needs, read before any vendor is called."""

from __future__ import annotations

from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

__all__ = ["DETAIL_FIELDS", "selected_names", "selects_any"]

# Session fields that need a vendor's detail data.
DETAIL_FIELDS = frozenset({"transcript", "toolCalls", "flowSteps", "recording"})


def selects_any(info: Info, names: frozenset[str]) -> bool:
    """Whether the selection under this field names any of `names`, at any depth, fragments
    included: the lookahead that keeps detail data out of list calls that do not need it."""
    return not names.isdisjoint(selected_names(info))


def selected_names(info: Info) -> frozenset[str]:
    """Every field name selected under this field, at any depth, fragments included: for a
    resolver with several questions (`info.selected_fields` converts the whole selection
    again at each read)."""
    names: set[str] = set()
    pending: list[Selection] = list(info.selected_fields)
    while pending:
        selection = pending.pop()
        if isinstance(selection, SelectedField):
            names.add(selection.name)
        pending.extend(selection.selections)
    return frozenset(names)
