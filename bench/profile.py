"""A py-spy recording of the gateway under load (`python -m bench --profile QUERY@CLIENTS`):
an extra run of that query, after its measured one, while py-spy samples the gateway's process;
the collapsed stacks go to bench/out/profile-QUERY.txt and the top frames are printed.
py-spy is not a dependency: `.venv/bin/pip install py-spy` first."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.processes import Children

__all__ = ["Profiler", "summarize"]

PROJECT = ("graph/", "resolvers/", "providers/")


class Profiler:
    def __init__(self, children: Children, pid: int, output: Path) -> None:
        self.children = children
        self.pid = pid
        self.output = output
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, duration_s: int) -> None:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(py_spy).exists():
            raise SystemExit("bench: --profile needs py-spy: .venv/bin/pip install py-spy")
        argv = [
            py_spy, "record", "--pid", str(self.pid), "--duration", str(duration_s),
            "--rate", "200", "--format", "raw", "--output", str(self.output),
            # Only samples holding the GIL: Python's work. Threads waiting (the SQLite driver's,
            # the executor's) would otherwise read as busy.
            "--gil",
        ]  # fmt: skip
        self._process = self.children.start("py-spy", argv)

    def finish(self, timeout_s: float = 60.0, *, interrupt: bool = False) -> str:
        """The summary, once py-spy has written its recording; `interrupt`: end the recording
        now (py-spy writes what it has on SIGINT), for a run measured in requests, not time."""
        process, self._process = self._process, None
        if process is None:
            return ""
        if interrupt and process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout_s)
        finally:
            self.children.stop(process)
        if process.returncode != 0 or not self.output.exists():
            return f"bench: py-spy failed:\n{self.children.log_tail('py-spy')}"
        return summarize(self.output)


def _split(frame: str) -> tuple[str, str]:
    """`name (path/file.py:12)` → (`name`, `package/file.py`), the line dropped."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return name, path


def _package(path: str) -> str:
    top = path.split("/", 1)[0]
    return top.removesuffix(".py") if "/" in path or top.endswith(".py") else top


def summarize(path: Path, top: int = 15) -> str:
    """Self time by function and by package, and inclusive time of the project's functions."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_split(f) for f in stack.split(";") if " (" in f]
        if not frames:
            continue
        total += count
        name, where = frames[-1]
        own[f"{name} ({where})"] += count
        packages[_package(where)] += count
        for frame in {f"{n} ({w})" for n, w in frames}:
            inclusive[frame] += count
    if not total:
        return "bench: the profile holds no samples"
    lines = [f"profile: {total} samples of the gateway, written to {path}", "", "self time:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "self time by package:"]
    lines += [f"  {n / total:6.1%}  {package}" for package, n in packages.most_common(top)]
    lines += ["", "inclusive, project code:"]
    ours = [
        (f, n)
        for f, n in inclusive.most_common()
        if any(p in f for p in PROJECT) and "graph/cli.py" not in f
    ]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in ours[:top]]
    return "\n".join(lines)
