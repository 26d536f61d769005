"""How `sessiongraph serve` runs: one process, or a supervisor and `workers` processes.

With several workers, uvicorn's supervisor (`uvicorn.supervisors.Multiprocess`) binds the
socket once and spawns the workers, which accept connections from it; each worker imports
`worker_app` and builds its app from the environment. SIGTERM or SIGINT to the supervisor stops
every worker gracefully (requests in flight finish, each lifespan closes its index and clients);
a worker that dies is replaced; a worker that cannot start stops the server (exit code 3); a
worker whose supervisor is gone stops by itself.

Everything a worker reads must be the same in every worker, and settings come from the
environment, so the supervisor writes into its own environment, before it spawns anything,
what would otherwise be drawn afresh in each worker: the worker count (`auto` resolved), a
generated cursor secret (else a cursor made by one worker fails on the next), and in demo mode
the data's anchor and the index's temporary file.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from graph.collector import settle
from graph.observability import MULTIPROC_ENV, JsonLines
from graph.settings import ConfigError, Settings, load_settings, read_workers
from providers.telemetry import REQUEST_ID
from providers.vendors import adapter_class

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = [
    "WORKER_APP",
    "Supervisor",
    "check_open_host",
    "configure_logging",
    "run_workers",
    "serve",
    "stop_with_supervisor",
    "worker_app",
]

log = logging.getLogger("sessiongraph")

WORKER_APP = "graph.serving:worker_app"  # what each worker imports (uvicorn's factory=True)
WORKERS_ENV = "SESSIONGRAPH_WORKERS"


LOG_FORMAT_ENV = "SESSIONGRAPH_LOG_FORMAT"


def configure_logging(*, worker: bool = False) -> None:
    """One format for the app's lines and uvicorn's (which then logs through the root: see
    `serve`): JSON lines (graph/observability.py), or SESSIONGRAPH_LOG_FORMAT=text for a human
    at a terminal. Read here, not from the settings: logging is set up before they are read,
    so that their errors are logged alike. Either way a worker's lines carry its pid (several
    processes write to one stream) and a request's lines its request id."""
    chosen = os.environ.get(LOG_FORMAT_ENV, "json").strip().lower() or "json"
    handler = logging.StreamHandler()
    if chosen == "text":
        where = " [%(process)d]" if worker else ""
        handler.setFormatter(
            logging.Formatter(f"%(levelname)s %(name)s{where} %(request_id)s: %(message)s")
        )
        handler.addFilter(_with_request_id)
    else:
        handler.setFormatter(JsonLines(process=worker))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per vendor call is noise
    if chosen not in ("json", "text"):
        log.warning("%s must be json or text, not %r: json it is", LOG_FORMAT_ENV, chosen[:20])


def _with_request_id(record: logging.LogRecord) -> bool:
    record.request_id = REQUEST_ID.get() or "-"
    return True


def worker_app() -> FastAPI:
    """The app of one worker, from the environment the supervisor prepared. One that cannot
    be built exits with STARTUP_FAILURE, which stops the supervisor: uvicorn would otherwise
    take any other exception for a worker that died, and start it again, forever."""
    configure_logging(worker=True)
    try:
        from graph.app import create_app

        app = create_app(load_settings().per_worker())
        settle()
    except ConfigError as exc:  # the supervisor read the same environment: unlikely
        log.error("this worker cannot start, the server stops: configuration error: %s", exc)
        sys.exit(STARTUP_FAILURE)
    except Exception:
        log.exception("this worker cannot start, the server stops")
        sys.exit(STARTUP_FAILURE)
    stop_with_supervisor()
    return app


def stop_with_supervisor(poll_s: float = 1.0) -> threading.Thread:
    """Stops this worker gracefully (SIGTERM to itself) once its supervisor is gone (killed,
    out of memory): nothing would replace it or pass it a signal, and it would keep the port
    from a restarted server. uvicorn's workers do not watch their parent."""
    supervisor = os.getppid()

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(poll_s)
        log.error("the supervisor (pid %d) is gone: this worker stops", supervisor)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="supervisor-watch", daemon=True)
    thread.start()
    return thread


def serve(host: str, port: int, log_level: str, workers: str | None = None) -> int:
    """Serves until stopped; `workers` is the `--workers` flag (None: the settings')."""
    environ = dict(os.environ)
    if workers is not None:
        environ[WORKERS_ENV] = str(read_workers(workers, "--workers"))
    settings = load_settings(environ)
    check_open_host(settings, host)
    if settings.workers == 1:
        from graph.app import create_app

        app = create_app(settings)
        settle()
        # log_config=None: uvicorn's loggers go through the root's handler (`configure_logging`)
        uvicorn.run(app, host=host, port=port, log_level=log_level, log_config=None)
        return 0
    from graph.app import check_persisted
    from graph.schema import schema

    check_persisted(settings, schema)  # before the workers, which would fail on it one by one
    with _shared_by_workers(settings):
        config = uvicorn.Config(
            WORKER_APP,
            factory=True,
            host=host,
            port=port,
            log_level=log_level,
            log_config=None,
            workers=settings.workers,
        )
        return run_workers(config)


def check_open_host(settings: Settings, host: str) -> None:
    """Without keys, demo mode answers anyone who reaches the port: loopback only, unless
    SESSIONGRAPH_AUTH=off says it is meant."""
    if settings.auth.required or settings.auth_off or _loopback(host):
        return
    raise ConfigError(
        f"demo mode without an API key serves loopback only, not --host {host}: set "
        "SESSIONGRAPH_API_KEY (clients then send `Authorization: Bearer <key>`), or "
        "SESSIONGRAPH_AUTH=off to serve it open"
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def run_workers(config: uvicorn.Config) -> int:
    """Runs `config.workers` workers until SIGTERM or SIGINT (0), or until one of them cannot
    start (STARTUP_FAILURE, 3: uvicorn's own code for it)."""
    supervisor = Supervisor(config, sockets=[config.bind_socket()])
    supervisor.run()
    return 0 if supervisor.signalled else STARTUP_FAILURE


class Supervisor(Multiprocess):
    """uvicorn's, knowing why it stopped: its `run` returns alike after SIGTERM and after a
    worker failed to start (it then stops the others rather than restart a broken app)."""

    signalled = False

    def handle_int(self) -> None:
        self.signalled = True
        super().handle_int()

    def handle_term(self) -> None:
        self.signalled = True
        super().handle_term()

    def keep_subprocess_alive(self) -> None:
        """uvicorn's, and a dead worker's gauges leave the sum on /metrics (the breakers it
        counted are gone with it); its counters stay, as Prometheus expects of counters."""
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        gone = before - {process.pid for process in self.processes}
        if gone and os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            for pid in gone:
                if pid is not None:
                    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


@contextmanager
def _shared_by_workers(settings: Settings) -> Iterator[None]:
    """Pins in this process's environment (the workers inherit it) what each worker would
    otherwise draw on its own; the demo's temporary index is removed when the block ends."""
    pinned = {WORKERS_ENV: str(settings.workers)}
    if settings.cursor_secret_generated:
        log.warning(
            "SESSIONGRAPH_CURSOR_SECRET is not set: cursors are signed with a key of this server"
            " only (its %d workers share it) and will not work on another replica or after a"
            " restart",
            settings.workers,
        )
        pinned["SESSIONGRAPH_CURSOR_SECRET"] = settings.cursor_secret.reveal()
    _warn_unsplittable_limits(settings)
    log.info(
        "%d workers: each vendor's rate limit is divided among them; caches, breakers and"
        " in-flight sharing are per worker; the index and the cursor secret are shared",
        settings.workers,
    )
    with ExitStack() as cleanup:
        if settings.demo:
            # Every worker builds its own simulators: the same seed, size and anchor make the
            # same data, and one index file lets one worker sync a list for all of them.
            anchor = settings.demo_anchor or datetime.now(UTC)
            pinned["SESSIONGRAPH_DEMO_ANCHOR"] = anchor.isoformat()
            if settings.index_url is None:
                folder = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="sessiongraph-"))
                pinned["SESSIONGRAPH_INDEX_URL"] = f"sqlite:///{folder}/index.db"
        pinned[MULTIPROC_ENV] = _metrics_folder(cleanup)
        cleanup.enter_context(_environment(pinned))
        yield


def _metrics_folder(cleanup: ExitStack) -> str:
    """Where the workers write their metrics (prometheus-client's multi-process mode, so that
    /metrics on any worker sums them all): PROMETHEUS_MULTIPROC_DIR when set, emptied of a
    previous run's files (their counters would add up), else a temporary folder."""
    given = os.environ.get(MULTIPROC_ENV)
    if not given:
        return cleanup.enter_context(tempfile.TemporaryDirectory(prefix="sessiongraph-metrics-"))
    folder = Path(given)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    return given


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _warn_unsplittable_limits(settings: Settings) -> None:
    for provider, vendor in settings.providers.items():
        limit = vendor.rate_limit(adapter_class(provider).config)
        if 0 < limit < settings.workers:
            log.warning(
                "%s's rate limit (%d a minute) is below one request a minute per worker: each"
                " of the %d workers allows itself 1, so together they may exceed it",
                provider.name,
                limit,
                settings.workers,
            )
