"""The layering the design promises, checked on the source and on a running process:
imports point one way, the simulators share no code with what they fake, live mode loads no fake."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
SIMULATORS = ROOT / "providers" / "simulators"


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of the file (lazy imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_simulator_module_imports_the_rest_of_providers() -> None:
    offenders = {
        f"{path.relative_to(ROOT)} imports {module}"
        for path in SIMULATORS.rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in {"providers", "resolvers", "graph"}
        and not module.startswith("providers.simulators")
    }
    assert offenders == set()


def test_the_oracles_share_no_code_with_the_adapters() -> None:
    """The tests' expected records come from the simulators' models, never from adapter code."""
    allowed = {"providers.records", "providers.query"}  # the records and the query's types
    offenders = {
        f"{path.relative_to(ROOT)} imports {module}"
        for path in (ROOT / "tests" / "oracles").rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in {"providers", "resolvers", "graph"}
        and module not in allowed
        and not module.startswith("providers.simulators")
    }
    assert offenders == set()


def test_imports_point_one_way_graph_resolvers_index_providers() -> None:
    forbidden = {
        "providers": {"index", "resolvers", "graph"},
        "index": {"resolvers", "graph"},
        "resolvers": {"graph"},
    }
    offenders = {
        f"{path.relative_to(ROOT)} imports {module}"
        for package, above in forbidden.items()
        for path in (ROOT / package).rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in above
    }
    assert offenders == set()


def test_no_vendor_is_named_outside_its_own_folder() -> None:
    """`graph/`, `resolvers/` and `index/` know no vendor: each adapter declares what differs."""
    vendors = ("samsara", "stateset", "vectara", "vonage")
    offenders = {
        f"{path.relative_to(ROOT)} imports {module}"
        for package in ("graph", "resolvers", "index")
        for path in (ROOT / package).rglob("*.py")
        for module in imported_modules(path)
        if any(f"providers.{vendor}" in module for vendor in vendors)
    }
    assert offenders == set()


LIVE_APP = """
import sys
from graph.app import create_app
from graph.settings import load_settings
app = create_app(load_settings({
    "SAMSARA_API_TOKEN": "t", "SAMSARA_AGENT_IDS": "a1",
    "STATESET_VOICE_API_KEY": "k", "VECTARA_API_KEY": "k", "VECTARA_AGENT_KEYS": "agt",
    "VONAGE_AI_STUDIO_API_KEY": "k", "SESSIONGRAPH_CURSOR_SECRET": "s",
    "SESSIONGRAPH_AUTH": "off",
}))
from fastapi.testclient import TestClient
with TestClient(app) as client:
    assert client.get("/healthz").json()["mode"] == "live"
print("\\n".join(sorted(name for name in sys.modules if name.startswith("providers"))))
"""


def test_live_mode_imports_no_simulator() -> None:
    """A fresh interpreter builds and starts a live app (no vendor is called): no module of
    `providers.simulators` is loaded, while every adapter is."""
    loaded = subprocess.run(
        [sys.executable, "-c", LIVE_APP], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert [name for name in loaded if name.startswith("providers.simulators")] == []
    for vendor in ("samsara", "stateset", "vectara", "vonage"):
        assert f"providers.{vendor}.adapter" in loaded
