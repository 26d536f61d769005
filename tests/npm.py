"""Node.js for the tests that run npm tools (Relay's compiler, Hive Gateway): a clear failure
when it is missing or too old (CI installs it; never skipped), and the pinned packages of an npm
project installed as its package-lock.json says."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench.peer import ensure_node_modules

__all__ = ["NODE_MAJOR", "npm_project"]

NODE_MAJOR = 20  # the oldest Node.js the pinned packages support (Hive Gateway 2 asks 20)


def npm_project(directory: Path, who: str) -> Path:
    """`directory`'s node_modules, installed from its lock (`npm ci` when missing or different);
    fails the test, saying what to install, without Node.js 20+ and npm."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"{who} needs Node.js {NODE_MAJOR}+ and npm ({', '.join(missing)} not found): "
            "install them (https://nodejs.org, or your package manager; CI installs them)"
        )
    version = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < NODE_MAJOR:
        pytest.fail(f"{who} needs Node.js {NODE_MAJOR}+, found {version}: install a newer one")
    ensure_node_modules(directory)
    return directory / "node_modules"
