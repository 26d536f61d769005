"""`serve --workers`: the count (flag, environment, `auto`), what the supervisor pins for its
workers, each worker's part of the vendors' rate limits, and the supervisor's exit code when a
worker cannot start. The processes themselves: tests/test_workers.py."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from graph import serving
from graph.cli import main
from graph.settings import load_settings
from providers.records import Provider
from providers.vendors import adapter_class

LIVE = {
    "STATESET_VOICE_API_KEY": "k",
    "STATESET_VOICE_BASE_URL": "http://127.0.0.1:9",
    "SESSIONGRAPH_AUTH": "off",
}
ALL_LIVE = {
    "SAMSARA_API_TOKEN": "t",
    "STATESET_VOICE_API_KEY": "k",
    "VECTARA_API_KEY": "v",
    "VONAGE_AI_STUDIO_API_KEY": "g",
    "SESSIONGRAPH_AUTH": "off",
}


VENDOR_ENV = [
    name
    for p in Provider
    for config in [adapter_class(p).config]
    for name in (
        config.credential_env,
        config.base_url_env,
        config.agent_ids_env,
        config.region_env,
        config.rate_limit_env,
    )
    if name
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No vendor setting and no gateway setting from the machine running the tests."""
    for name in [*VENDOR_ENV, *(n for n in os.environ if n.startswith("SESSIONGRAPH_"))]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def spied(clean_env: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What `serve` would start, without starting it: the single process's options, or the
    workers' config and the environment they would inherit."""
    started: list[dict[str, Any]] = []
    clean_env.setattr("graph.serving.uvicorn.run", lambda app, **kw: started.append({"single": kw}))

    def run_workers(config: uvicorn.Config) -> int:
        metrics = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
        started.append(
            {
                "config": config,
                "env": dict(os.environ),
                "folders": _index_folder(),
                "metrics_folder": metrics and sorted(p.name for p in Path(metrics).iterdir()),
            }
        )
        return 0

    clean_env.setattr(serving, "run_workers", run_workers)
    return started


def _index_folder() -> bool | None:
    url = os.environ.get("SESSIONGRAPH_INDEX_URL", "")
    return Path(url.removeprefix("sqlite:///")).parent.is_dir() if url else None


# --- the count ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--workers", "0"], {}, "--workers must be a whole number of processes (1 or more)"),
        (["--workers", "-2"], {}, "--workers must be a whole number"),
        (["--workers", "two"], {}, "--workers must be a whole number"),
        (["--workers", "1.5"], {}, "--workers must be a whole number"),
        (["--workers", ""], {}, "--workers must be a whole number"),
        ([], {"SESSIONGRAPH_WORKERS": "many"}, "SESSIONGRAPH_WORKERS must be a whole number"),
        ([], {"SESSIONGRAPH_WORKERS": "0"}, "SESSIONGRAPH_WORKERS must be a whole number"),
    ],
)
def test_a_bad_worker_count_is_a_configuration_error_and_serves_nothing(
    argv: list[str],
    env: dict[str, str],
    message: str,
    spied: list[dict[str, Any]],
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sessiongraph: configuration error: {message}")
    assert "Traceback" not in err
    assert spied == []


def test_demo_mode_serves_one_process_by_default(spied: list[dict[str, Any]]) -> None:
    assert main(["serve", "--port", "8765"]) == 0
    # log_config=None: uvicorn's lines go through the app's log format (graph/serving.py).
    single = {"host": "127.0.0.1", "port": 8765, "log_level": "info", "log_config": None}
    assert spied == [{"single": single}]


def test_live_mode_runs_auto_workers_by_default_at_most_eight(
    spied: list[dict[str, Any]], clean_env: pytest.MonkeyPatch
) -> None:
    for name, value in LIVE.items():
        clean_env.setenv(name, value)
    clean_env.setattr(os, "sched_getaffinity", lambda pid: set(range(12)), raising=False)
    assert main(["serve", "--port", "0"]) == 0
    clean_env.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert main(["serve", "--port", "0"]) == 0
    assert [run["config"].workers for run in spied] == [8, 3]
    assert [run["env"]["SESSIONGRAPH_WORKERS"] for run in spied] == ["8", "3"]


def test_an_affinity_of_one_cpu_serves_one_process(
    spied: list[dict[str, Any]], clean_env: pytest.MonkeyPatch
) -> None:
    for name, value in LIVE.items():
        clean_env.setenv(name, value)
    clean_env.setattr(os, "sched_getaffinity", lambda pid: {1}, raising=False)
    assert main(["serve", "--port", "0", "--workers", "auto"]) == 0
    assert list(spied[0]) == ["single"]


def test_the_flag_wins_over_the_environment(
    spied: list[dict[str, Any]], clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("SESSIONGRAPH_WORKERS", "5")
    assert main(["serve", "--port", "0", "--workers", "12"]) == 0
    [run] = spied
    assert run["config"].workers == 12  # an explicit count is not capped at eight
    assert run["config"].app == "graph.serving:worker_app"
    assert run["config"].factory is True


# --- what the workers inherit ----------------------------------------------------------------


def test_the_workers_share_a_generated_cursor_secret(spied: list[dict[str, Any]]) -> None:
    assert "SESSIONGRAPH_CURSOR_SECRET" not in os.environ
    assert main(["serve", "--port", "0", "--workers", "2"]) == 0
    [run] = spied
    secret = run["env"]["SESSIONGRAPH_CURSOR_SECRET"]
    assert len(secret) >= 32
    # What each worker reads: the same key, not one drawn on its own.
    worker = load_settings(run["env"])
    assert worker.cursor_secret.reveal() == secret
    assert worker.cursor_secret_generated is False
    assert worker.workers == 2
    # Pinned for the workers only: this process's environment is as it was.
    assert "SESSIONGRAPH_CURSOR_SECRET" not in os.environ
    assert "SESSIONGRAPH_WORKERS" not in os.environ


def test_a_configured_cursor_secret_is_left_as_it_is(
    spied: list[dict[str, Any]], clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("SESSIONGRAPH_CURSOR_SECRET", "operator's")
    assert main(["serve", "--port", "0", "--workers", "3"]) == 0
    assert spied[0]["env"]["SESSIONGRAPH_CURSOR_SECRET"] == "operator's"


def test_demo_workers_get_one_anchor_and_one_temporary_index(
    spied: list[dict[str, Any]],
) -> None:
    before = time.time()
    assert main(["serve", "--port", "0", "--workers", "2"]) == 0
    [run] = spied
    worker = load_settings(run["env"])
    assert worker.demo
    assert worker.demo_anchor is not None and worker.demo_anchor.timestamp() >= before - 1
    url = run["env"]["SESSIONGRAPH_INDEX_URL"]
    assert url.startswith("sqlite:///") and url.endswith("/index.db")
    assert run["folders"] is True  # there while the workers run
    assert not Path(url.removeprefix("sqlite:///")).parent.exists()  # gone with the server


def test_demo_settings_the_operator_gave_are_kept(
    spied: list[dict[str, Any]], clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("SESSIONGRAPH_DEMO_ANCHOR", "2026-11-01T00:00:00+00:00")
    clean_env.setenv("SESSIONGRAPH_INDEX_URL", "off")
    assert main(["serve", "--port", "0", "--workers", "2"]) == 0
    env = spied[0]["env"]
    assert env["SESSIONGRAPH_INDEX_URL"] == "off"
    assert env["SESSIONGRAPH_DEMO_ANCHOR"] == "2026-11-01T00:00:00+00:00"


def test_live_workers_use_the_default_index_file_of_the_working_directory(
    spied: list[dict[str, Any]], clean_env: pytest.MonkeyPatch
) -> None:
    for name, value in LIVE.items():
        clean_env.setenv(name, value)
    assert main(["serve", "--port", "0", "--workers", "2"]) == 0
    env = spied[0]["env"]
    assert "SESSIONGRAPH_INDEX_URL" not in env  # each worker: .sessiongraph/index.db, one cwd
    assert "SESSIONGRAPH_DEMO_ANCHOR" not in env


# --- rate limits -----------------------------------------------------------------------------


def _limits(env: dict[str, str]) -> dict[Provider, int]:
    settings = load_settings(env).per_worker()
    return {p: v.rate_limit(adapter_class(p).config) for p, v in settings.providers.items()}


def test_each_worker_takes_its_part_of_every_vendor_rate_limit() -> None:
    # The documented limits: Samsara 100, StateSet 60, Vectara 600, Vonage 600 a minute.
    assert _limits({**ALL_LIVE, "SESSIONGRAPH_WORKERS": "1"}) == {
        Provider.SAMSARA: 100,
        Provider.STATESET: 60,
        Provider.VECTARA: 600,
        Provider.VONAGE: 600,
    }
    assert _limits({**ALL_LIVE, "SESSIONGRAPH_WORKERS": "2"}) == {
        Provider.SAMSARA: 50,
        Provider.STATESET: 30,
        Provider.VECTARA: 300,
        Provider.VONAGE: 300,
    }
    # Rounded down: 7 workers x 14 = 98 <= 100, 7 x 8 = 56 <= 60, 7 x 85 = 595 <= 600.
    assert _limits({**ALL_LIVE, "SESSIONGRAPH_WORKERS": "7"}) == {
        Provider.SAMSARA: 14,
        Provider.STATESET: 8,
        Provider.VECTARA: 85,
        Provider.VONAGE: 85,
    }


def test_no_limit_stays_none_and_a_tiny_one_keeps_one_a_minute_per_worker() -> None:
    env = {
        **ALL_LIVE,
        "SESSIONGRAPH_WORKERS": "4",
        "SAMSARA_RATE_LIMIT_PER_MIN": "0",
        "STATESET_VOICE_RATE_LIMIT_PER_MIN": "3",
    }
    limits = _limits(env)
    assert limits[Provider.SAMSARA] == 0  # no limit
    assert limits[Provider.STATESET] == 1  # cannot go lower: the server says so at start


def test_serve_warns_of_a_limit_the_workers_cannot_split(
    spied: list[dict[str, Any]],
    clean_env: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name, value in LIVE.items():
        clean_env.setenv(name, value)
    clean_env.setenv("STATESET_VOICE_RATE_LIMIT_PER_MIN", "3")
    assert main(["serve", "--port", "0", "--workers", "4"]) == 0
    assert (
        "STATESET's rate limit (3 a minute) is below one request a minute per worker: each of"
        " the 4 workers allows itself 1, so together they may exceed it"
    ) in caplog.text


def test_demo_mode_keeps_its_limits_whatever_the_workers() -> None:
    settings = load_settings({"SESSIONGRAPH_WORKERS": "4"})
    assert settings.demo and settings.workers == 4
    assert settings.per_worker() is settings  # each worker's simulators are its own vendors


# --- a worker that cannot start -------------------------------------------------------------


def test_the_server_exits_3_when_its_workers_cannot_start() -> None:
    """Workers whose environment does not hold (here: set behind `serve`'s back, which checks
    it first) cannot build their app: the supervisor stops instead of restarting them."""
    script = textwrap.dedent(
        """
        import sys
        import uvicorn
        from graph.serving import WORKER_APP, run_workers

        config = uvicorn.Config(WORKER_APP, factory=True, port=0, workers=2)
        sys.exit(run_workers(config))
        """
    )
    env = {**os.environ, "SESSIONGRAPH_HTTP_TRANSPORT": "carrier-pigeon"}
    finished = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 3, finished.stderr
    assert (
        "this worker cannot start, the server stops: configuration error: "
        "SESSIONGRAPH_HTTP_TRANSPORT must be aiohttp or httpx"
    ) in finished.stderr
    assert "failed to start, stopping the parent process" in finished.stderr
    assert "Traceback" not in finished.stderr


# --- the garbage collector ------------------------------------------------------------------


@pytest.fixture
def collector_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_a_served_process_collects_less_often_and_never_rescans_what_it_built(
    clean_env: pytest.MonkeyPatch, collector_restored: None
) -> None:
    """Measured in bench.cpu: CPython's default (a young collection every 700 allocations) cost
    the merged page CPU; a threshold of 50,000 made each collection a p99 pause of 10-30 ms."""
    seen: list[tuple[tuple[int, int, int], int]] = []
    clean_env.setattr(
        "graph.serving.uvicorn.run",
        lambda app, **kw: seen.append((gc.get_threshold(), gc.get_freeze_count())),
    )
    gc.set_threshold(700, 10, 10)
    assert main(["serve"]) == 0
    [(thresholds, frozen)] = seen
    assert 700 < thresholds[0] <= 10_000
    assert frozen > 10_000  # the imported modules and the app: traversed no more


def test_workers_write_their_metrics_to_one_temporary_folder(spied: list[dict[str, Any]]) -> None:
    assert main(["serve", "--port", "0", "--workers", "2"]) == 0
    [run] = spied
    folder = run["env"]["PROMETHEUS_MULTIPROC_DIR"]
    assert run["metrics_folder"] == []  # there, empty, while the workers run
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    assert not Path(folder).exists()  # gone with the server


def test_an_operators_metrics_folder_is_kept_and_emptied_of_a_previous_run(
    spied: list[dict[str, Any]], clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "counter_4242.db").write_bytes(b"old run")
    (tmp_path / "notes.txt").write_text("the operator's")
    clean_env.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert main(["serve", "--port", "0", "--workers", "2"]) == 0
    [run] = spied
    assert run["env"]["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)
    assert run["metrics_folder"] == ["notes.txt"]
    assert (tmp_path / "notes.txt").exists()
