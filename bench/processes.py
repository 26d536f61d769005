"""The processes a benchmark starts, and the guarantee that each is stopped: `Children` owns
them and terminates every one on exit, whether the run ended, failed or was interrupted. A child
also gets SIGTERM if the benchmark itself dies (Linux `PR_SET_PDEATHSIG`)."""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from urllib.parse import urlsplit

import httpx

__all__ = [
    "Children",
    "check_loopback",
    "console_script",
    "environment",
    "free_port",
    "python_module",
    "raise_on_sigterm",
    "wait_for_file",
    "wait_for_http",
]

LOOPBACK = "127.0.0.1"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Not Linux: no such call, and the try/finally of the benchmark still stops the children.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def raise_on_sigterm() -> None:
    """SIGTERM ends the benchmark through its `finally` blocks, like Ctrl-C does."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


class Children:
    """Processes started for one run; `stop_all` (and leaving the `with`) ends them all."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> Children:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """`argv` with its output in `log_dir/name.log`, in its own session: Ctrl-C reaches the
        benchmark only, which then stops the children in order."""
        with (self.log_dir / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self._running.append((name, process))
        return process

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=grace_s)
        self._running = [(n, p) for n, p in self._running if p is not process]

    def stop_all(self) -> None:
        """Newest first (the gateway before the simulators it talks to)."""
        for _, process in reversed(list(self._running)):
            try:
                self.stop(process)
            except Exception as exc:  # keep stopping the others
                print(f"bench: could not stop pid {process.pid}: {exc}", file=sys.stderr)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def check_loopback(url: str) -> str:
    """`url` when its host is a loopback address; the benchmark talks to nothing else."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise SystemExit(f"bench: refusing a non-loopback address: {url}")
    return url


def wait_for_file(path: Path, needed: Sequence[str], timeout_s: float) -> str:
    """The text of `path` once it holds every string in `needed`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            text = path.read_text()
            if all(item in text for item in needed):
                return text
        time.sleep(0.1)
    raise TimeoutError(f"{path} was not written within {timeout_s:.0f} s")


def wait_for_http(
    url: str, process: subprocess.Popen[bytes], timeout_s: float, ok_below: int = 500
) -> httpx.Response:
    """The first answer of `url` with a status under `ok_below`, while `process` runs."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"process {process.args!r} exited with {process.returncode}")
            try:
                response = client.get(check_loopback(url))
                if response.status_code < ok_below:
                    return response
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")


def python_module(module: str, *args: str) -> list[str]:
    """argv running `module` with this interpreter (the venv's)."""
    return [sys.executable, "-m", module, *args]


def environment(extra: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, **extra}


def console_script(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"bench: `{name}` not found: install the project (pip install -e .)")
    return found
