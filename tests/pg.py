"""PostgreSQL for the tests: the server named by SESSIONGRAPH_TEST_POSTGRES_URL, or a throwaway
cluster started here (initdb into a temporary folder, a free loopback port, trust auth), and a
fresh database on it for the test session.

A conftest whose tests run on both index backends imports the fixtures:
`from tests.pg import index_url, postgres_url  # noqa: F401` and asks for `index_url`: an
empty index database, SQLite then PostgreSQL. The cluster is started once per test process,
whichever conftests use it, and stopped at its end; without the binaries the tests FAIL, saying
how to install them (never skipped).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Coroutine, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import asyncpg
import pytest

__all__ = [
    "BACKENDS",
    "ENV",
    "index_url",
    "postgres_url",
    "reset_database",
    "server_url",
    "start_cluster",
]

ENV = "SESSIONGRAPH_TEST_POSTGRES_URL"
INSTALL_HINT = (
    "PostgreSQL's server binaries (initdb, pg_ctl) are needed by the index tests and were not"
    " found: install them (Debian/Ubuntu: `apt-get install postgresql`), put their folder on PATH"
    " or in PG_BIN, or point SESSIONGRAPH_TEST_POSTGRES_URL at a server"
)

_lock = threading.Lock()
_server: str | None = None


def bin_dir() -> Path:
    """Where initdb and pg_ctl are: PG_BIN, PATH, or Debian's /usr/lib/postgresql/<v>/bin."""
    candidates = [Path(os.environ["PG_BIN"])] if os.environ.get("PG_BIN") else []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(debian.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else 0)
        candidates += [version / "bin" for version in reversed(versions)]
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise RuntimeError(INSTALL_HINT)


class Cluster:
    """A throwaway PostgreSQL cluster in a temporary folder, owned by the user who runs it
    (`postgres` when we are root: initdb refuses root)."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="sessiongraph-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            _ensure_user("postgres")
            shutil.chown(self.root, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        data = str(self.data)
        self._run(
            "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
            # A throwaway cluster: nothing to keep across a crash.
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        with suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [*self._as, str(self.bin / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise subprocess.CalledProcessError(
                done.returncode, command, done.stdout, f"{done.stderr}\n{self._server_log()}"
            )

    def _server_log(self) -> str:
        with suppress(OSError):
            return (self.root / "server.log").read_text()[-2000:]
        return ""


def start_cluster() -> Cluster:
    cluster = Cluster()
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def server_url(config: pytest.Config) -> str:
    """SESSIONGRAPH_TEST_POSTGRES_URL, or the URL of a cluster started once for this process
    and stopped when pytest ends."""
    global _server
    if os.environ.get(ENV):
        return os.environ[ENV]
    with _lock:
        if _server is None:
            try:
                cluster = start_cluster()
            except RuntimeError as error:
                pytest.fail(str(error), pytrace=False)
            config.add_cleanup(cluster.stop)
            _server = cluster.url
        return _server


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of its own for this test session (`sg_test_<random>`), dropped at its end.
    Tests that share it call `reset_database` first."""
    server = server_url(request.config)
    name = f"sg_test_{secrets.token_hex(6)}"
    _run_async(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(server, name)
    finally:
        _run_async(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


BACKENDS = ("sqlite", "postgres")


@pytest.fixture(params=BACKENDS)
def index_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty index database on each backend (as a user writes it)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/index/index.db"
    url: str = request.getfixturevalue("postgres_url")
    reset_database(url)
    return url


def reset_database(url: str) -> None:
    """Empty the database: drop its public schema with everything in it, and create it again."""
    _run_async(_admin(url, "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public"))


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(_plain(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _plain(url: str) -> str:
    """asyncpg reads postgresql:// URLs, without a SQLAlchemy driver name."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    head, _, tail = url.partition("?")
    base = head.rsplit("/", 1)[0] if head.count("/") > 2 else head
    return f"{base}/{name}" + (f"?{tail}" if tail else "")


def _run_async(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run `coroutine` on a loop of its own, in a thread: fixtures may be set up while the
    tests' loop is running."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _ensure_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", name], check=True)
