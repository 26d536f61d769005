"""The lock files must hold what pyproject.toml declares: a dependency added to pyproject.toml
without `make lock` (or a lock edited by hand) fails here, naming the package, before an
install from the lock goes out without it."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).parent.parent
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"
DEV_LOCK = ROOT / "requirements" / "dev.lock"

# A pinned line of a lock: `name==version`, an optional environment marker, then the hashes.
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins(lock_text: str) -> dict[str, Version]:
    found: dict[str, Version] = {}
    for line in lock_text.splitlines():
        match = _PIN.match(line)
        if match:
            found[canonicalize_name(match[1])] = Version(match[2])
    return found


def unmet(declared: list[str], locked: dict[str, Version]) -> list[str]:
    """Each declared requirement the lock lacks, or pins at a version outside its range."""
    problems = []
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name not in locked:
            problems.append(f"{requirement.name}: not in the lock")
        elif not requirement.specifier.contains(locked[name], prereleases=True):
            problems.append(f"{requirement.name}: locked {locked[name]}, declared {text!r}")
    return problems


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _runtime() -> list[str]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    return list(project["dependencies"])


def _dev() -> list[str]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    return list(project["optional-dependencies"]["dev"])


def _build() -> list[str]:
    build = _pyproject()["build-system"]
    assert isinstance(build, dict)
    return list(build["requires"])


def test_the_runtime_lock_holds_every_runtime_dependency_in_range() -> None:
    locked = pins(RUNTIME_LOCK.read_text())
    assert unmet(_runtime() + _build(), locked) == [], "run `make lock`"


def test_the_dev_lock_holds_every_runtime_and_dev_dependency_in_range() -> None:
    locked = pins(DEV_LOCK.read_text())
    assert unmet(_runtime() + _dev() + _build(), locked) == [], "run `make lock`"


def test_the_dev_lock_pins_the_runtime_lock_at_the_same_versions() -> None:
    # `make test` then `make serve` reuse one venv: the runtime set must be the same in both.
    runtime, dev = pins(RUNTIME_LOCK.read_text()), pins(DEV_LOCK.read_text())
    differing = {name: (v, dev.get(name)) for name, v in runtime.items() if dev.get(name) != v}
    assert differing == {}, "run `make lock`"


def test_the_dev_tools_are_pinned_exactly() -> None:
    # A new ruff, mypy or pytest release must not change what CI runs.
    loose = [text for text in _dev() if not re.fullmatch(r"[^=<>~!]+==[^,*]+", text.split(";")[0])]
    assert loose == []


def test_a_dependency_missing_from_the_lock_or_out_of_its_range_is_named() -> None:
    locked = pins(
        "orjson==3.10.0 \\\n    --hash=sha256:00\nuvloop==0.19.0 ; sys_platform != 'win32'\n"
    )
    assert locked == {"orjson": Version("3.10.0"), "uvloop": Version("0.19.0")}
    declared = ["orjson>=3.11", "uvloop>=0.19; sys_platform != 'win32'", "prometheus-client>=0.20"]
    assert unmet(declared, locked) == [
        "orjson: locked 3.10.0, declared 'orjson>=3.11'",
        "prometheus-client: not in the lock",
    ]
