"""The `sessiongraph` command, in-process: export-schema, serve's wiring, and simulate's servers
on loopback, started by `main` and stopped by the test."""

from __future__ import annotations

import asyncio
import os
import runpy
import sys
import threading
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph import cli
from graph.app import create_app
from graph.cli import SimulatorServers, main
from graph.settings import load_settings
from providers.query import SessionQuery
from providers.records import Provider
from providers.vendors import adapter_class
from resolvers.sources import build_simulators
from tests.conftest import ANCHOR
from tests.oracles import expected_records
from tests.oracles.select import select
from tests.support import FakeClock

SCHEMA = Path(__file__).parent.parent.parent / "schema.graphql"
VENDOR_ENV = [
    name
    for p in Provider
    for name in (
        adapter_class(p).config.credential_env,
        adapter_class(p).config.base_url_env,
        adapter_class(p).config.agent_ids_env,
        adapter_class(p).config.region_env,
    )
    if name
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No vendor credential and no gateway setting from the machine running the tests."""
    for name in VENDOR_ENV:
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("SESSIONGRAPH_")]:
        monkeypatch.delenv(name)
    return monkeypatch


# --- export-schema -------------------------------------------------------------------------------


def test_export_schema_to_a_file_writes_the_checked_in_schema(tmp_path: Path) -> None:
    output = tmp_path / "out.graphql"
    assert main(["export-schema", "--output", str(output)]) == 0
    assert output.read_text() == SCHEMA.read_text()


def test_export_schema_prints_the_schema_without_an_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["export-schema"]) == 0
    printed = capsys.readouterr()
    assert printed.out == SCHEMA.read_text()
    assert printed.err == ""


def test_python_dash_m_graph_cli_runs_main(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "schema.graphql"
    monkeypatch.setattr(sys, "argv", ["sessiongraph", "export-schema", "--output", str(output)])
    with warnings.catch_warnings(), pytest.raises(SystemExit) as exited:
        # runpy warns that graph.cli is already imported (by this test): expected here.
        warnings.simplefilter("ignore", RuntimeWarning)
        runpy.run_module("graph.cli", run_name="__main__")
    assert exited.value.code == 0
    assert output.read_text() == SCHEMA.read_text()


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "required" in capsys.readouterr().err


# --- serve ---------------------------------------------------------------------------------------


async def test_serve_runs_the_demo_app_on_the_given_address(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("SESSIONGRAPH_DEMO_SIZE", "7")
    clean_env.setenv("SESSIONGRAPH_DEMO_ANCHOR", ANCHOR.isoformat())
    clean_env.setenv("SESSIONGRAPH_CURSOR_SECRET", "cli-test")
    served: list[tuple[Any, dict[str, Any]]] = []
    clean_env.setattr("graph.cli.uvicorn.run", lambda app, **kw: served.append((app, kw)))

    assert main(["serve", "--host", "127.0.0.1", "--port", "8765", "--log-level", "debug"]) == 0

    [(app, options)] = served
    # log_config=None: uvicorn's lines go through the app's log format (graph/serving.py).
    assert options == {"host": "127.0.0.1", "port": 8765, "log_level": "debug", "log_config": None}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serve") as client:
            health = (await client.get("/healthz")).json()
            sizes = await client.post(
                "/graphql",
                json={
                    "query": "query($f: SessionFilter) { sessions(first: 100, filter: $f) "
                    "{ edges { node { id } } } }",
                    "variables": {
                        "f": {
                            "startedAfter": (ANCHOR - timedelta(days=400)).isoformat(),
                            "startedBefore": (ANCHOR + timedelta(days=1)).isoformat(),
                        }
                    },
                },
            )
    assert health == {"status": "ok", "mode": "demo", "providers": [p.value for p in Provider]}
    # SESSIONGRAPH_DEMO_SIZE reached the simulators: 7 sessions per vendor, 4 vendors.
    assert len(sizes.json()["data"]["sessions"]["edges"]) == 4 * 7


def test_serve_with_a_bad_setting_says_so_and_serves_nothing(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("SESSIONGRAPH_HTTP_TRANSPORT", "carrier-pigeon")
    served: list[object] = []
    clean_env.setattr("graph.cli.uvicorn.run", lambda app, **kw: served.append(app))
    assert main(["serve"]) == 2
    assert capsys.readouterr().err == (
        "sessiongraph: configuration error: SESSIONGRAPH_HTTP_TRANSPORT must be aiohttp or "
        "httpx, not 'carrier-pigeon'\n"
    )
    assert served == []


# --- simulate: argument errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--only", "vonage,zoom"],
            "--only takes samsara, stateset, vectara, vonage",
        ),
        (["--only", "vectara,"], "--only takes samsara, stateset, vectara, vonage"),
        (["--anchor", "yesterday"], "--anchor must be an ISO 8601 time, not 'yesterday'"),
        (["--arrivals-per-hour", "-1"], "--arrivals-per-hour cannot be negative, not -1"),
        (["--deletions-per-hour", "-0.5"], "--deletions-per-hour cannot be negative, not -0.5"),
    ],
)
def test_simulate_refuses_bad_arguments_before_serving(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[object] = []
    monkeypatch.setattr(cli, "simulator_servers", lambda *args: started.append(args))
    assert main(["simulate", "--size", "3", *argv]) == 2
    printed = capsys.readouterr()
    assert printed.err == f"sessiongraph: configuration error: {message}\n"
    assert printed.out == ""  # no environment lines: nothing runs
    assert started == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--size", "many"], "--size: invalid int value: 'many'"),
        (["--arrivals-per-hour", "lots"], "--arrivals-per-hour: invalid float value: 'lots'"),
        (["--deletions-per-hour", ""], "--deletions-per-hour: invalid float value: ''"),
        (
            ["--order", "oldest-first"],
            "--order: invalid choice: 'oldest-first' (choose from 'newest-first', "
            "'insertion', 'shuffled')",
        ),
    ],
)
def test_simulate_needs_numbers_and_choices_where_it_says_so(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulate", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


class _Stop(Exception):
    """Raised instead of serving, with the simulators that would have been served."""


def test_simulate_generates_only_the_chosen_vendors(monkeypatch: pytest.MonkeyPatch) -> None:
    import providers.simulators

    built: list[str] = []
    real = providers.simulators.simulator_class

    def counted(vendor: str) -> Any:
        built.append(vendor)
        return real(vendor)

    def servers(simulators: dict[Provider, Any], *args: Any) -> None:
        raise _Stop(set(simulators))

    monkeypatch.setattr(providers.simulators, "simulator_class", counted)
    monkeypatch.setattr(cli, "simulator_servers", servers)
    with pytest.raises(_Stop) as stopped:
        main(["simulate", "--only", "vonage,samsara", "--size", "3"])
    assert built == ["samsara", "vonage"]  # the other vendors' data is never generated
    assert stopped.value.args[0] == {Provider.SAMSARA, Provider.VONAGE}


def test_simulate_offers_the_simulators_list_orders() -> None:
    # Restated in graph/cli.py so that `serve` never imports the simulators: they must agree.
    from providers.simulators.base import LIST_ORDERS

    assert cli.LIST_ORDERS == LIST_ORDERS


# --- simulate: servers on loopback ---------------------------------------------------------------


@asynccontextmanager
async def simulate(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SimulatorServers]:
    """`main(["simulate", *argv])` in a thread (it blocks while it serves), until the servers
    are up; stopped, and `main` returned 0, when the block ends. The simulators' "now" is the
    tests' clock, not the machine's."""
    clock = FakeClock(ANCHOR)
    monkeypatch.setattr(
        cli,
        "build_simulators",
        lambda size, seed, anchor, **options: build_simulators(
            size, seed, anchor, clock, **options
        ),
    )
    running: list[SimulatorServers] = []
    serve = SimulatorServers.serve

    async def serve_and_tell(self: SimulatorServers) -> None:
        running.append(self)
        await serve(self)

    monkeypatch.setattr(SimulatorServers, "serve", serve_and_tell)
    exit_codes: list[int] = []
    thread = threading.Thread(target=lambda: exit_codes.append(main(["simulate", *argv])))
    thread.start()
    try:
        for _ in range(300):  # the bound: 30 s, never reached when all is well
            if running and all(server.started for server, _ in running[0].servers):
                break
            if not thread.is_alive():
                break
            await asyncio.sleep(0.1)
        assert running, f"simulate did not start its servers (exit code {exit_codes})"
        yield running[0]
    finally:
        for servers in running:
            servers.stop()
        await asyncio.to_thread(thread.join, 30)
    assert not thread.is_alive(), "the simulators did not stop"
    assert exit_codes == [0]


async def test_simulate_serves_the_chosen_vendors_on_loopback_until_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / "vendors.env"
    argv = ["--only", " Vectara,vonage", "--size", "12", "--seed", "5"]
    argv += ["--anchor", ANCHOR.replace(tzinfo=None).isoformat(), "--env-file", str(env_file)]
    async with simulate(argv, monkeypatch) as running:
        assert set(running.simulators) == {Provider.VECTARA, Provider.VONAGE}
        # A naive --anchor is UTC.
        assert {s.anchor for s in running.simulators.values()} == {ANCHOR}
        printed = capsys.readouterr().out.splitlines()
        written = env_file.read_text().splitlines()
        assert printed == written
        env = dict(line.split("=", 1) for line in written)
        vectara, vonage = adapter_class(Provider.VECTARA), adapter_class(Provider.VONAGE)
        sims = running.simulators
        assert env == {
            vectara.config.credential_env: sims[Provider.VECTARA].api_key,
            vectara.config.base_url_env: running.urls[Provider.VECTARA],
            vectara.config.agent_ids_env: ",".join(sims[Provider.VECTARA].agent_ids()),
            vonage.config.credential_env: sims[Provider.VONAGE].api_key,
            vonage.config.base_url_env: running.urls[Provider.VONAGE],
        }
        assert all(url.startswith("http://127.0.0.1:") for url in running.urls.values())
        assert len(set(running.urls.values())) == 2

        # The printed lines are what `serve` needs: a live gateway over them answers from the
        # simulators through real sockets.
        settings = load_settings(
            {
                **env,
                "SESSIONGRAPH_CURSOR_SECRET": "cli-test",
                "SESSIONGRAPH_INDEX_URL": "off",
                "SESSIONGRAPH_AUTH": "off",
            }
        )
        assert set(settings.providers) == {Provider.VECTARA, Provider.VONAGE}
        app = create_app(settings)
        after, before = ANCHOR - timedelta(days=120), ANCHOR + timedelta(days=1)
        window = {"startedAfter": after.isoformat(), "startedBefore": before.isoformat()}
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                health = (await client.get("/healthz")).json()
                answer = await client.post(
                    "/graphql",
                    json={
                        "query": "query($f: SessionFilter) { sessions(first: 100, filter: $f) "
                        "{ nodes { provider providerSessionId } } }",
                        "variables": {"f": window},
                    },
                )
        assert health == {"status": "ok", "mode": "live", "providers": ["vectara", "vonage"]}
        query = SessionQuery(started_after=after, started_before=before)
        truth = select([r for s in sims.values() for r in expected_records(s)], query)
        assert len(truth) == 24
        body = answer.json()
        body.pop("extensions")  # the query's cost (test_query_cost.py)
        assert body == {
            "data": {
                "sessions": {
                    "nodes": [
                        {"provider": r.provider.name, "providerSessionId": r.id} for r in truth
                    ]
                }
            }
        }
        assert all(len(s.log) > 0 for s in sims.values())  # over the sockets, not in-process


async def test_simulate_with_no_env_file_binds_any_free_ports(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with simulate(["--size", "2", "--latency-ms", "5"], monkeypatch) as running:
        assert set(running.simulators) == set(Provider)
        assert {s.faults.latency_s for s in running.simulators.values()} == {0.005}
        # Without the flags, the data is shuffled where no order is promised, and stays put.
        assert {
            (s.order, s.arrivals_per_hour, s.deletions_per_hour)
            for s in running.simulators.values()
        } == {("shuffled", 0.0, 0.0)}
        ports = {url.rsplit(":", 1)[1] for url in running.urls.values()}
        assert len(ports) == 4 and "0" not in ports
        lines = capsys.readouterr().out.splitlines()
        assert lines == running.env_lines()
        async with httpx.AsyncClient() as client:
            for provider, url in running.urls.items():
                # Without its key every simulator answers 401, as the vendor would.
                response = await client.get(f"{url}/anything")
                assert response.status_code == 401, provider


async def test_simulate_passes_order_arrivals_and_deletions_to_every_simulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = ["--size", "3", "--order", "insertion", "--arrivals-per-hour", "12.5"]
    argv += ["--deletions-per-hour", "2"]
    async with simulate(argv, monkeypatch) as running:
        assert set(running.simulators) == set(Provider)
        assert {
            (s.order, s.arrivals_per_hour, s.deletions_per_hour)
            for s in running.simulators.values()
        } == {("insertion", 12.5, 2.0)}


# --- --version and help --------------------------------------------------------------------------


def test_version_prints_the_version_of_pyproject(capsys: pytest.CaptureFixture[str]) -> None:
    import tomllib

    pyproject = tomllib.loads((SCHEMA.parent / "pyproject.toml").read_text())
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"sessiongraph {pyproject['project']['version']}\n"


def _help_of(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines: compare words


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        ("serve", ["--host", "--port", "--log-level", "--workers"]),
        (
            "simulate",
            [
                "--host",
                "--port",
                "--size",
                "--seed",
                "--anchor",
                "--latency-ms",
                "--env-file",
                "--only",
                "--order",
                "--arrivals-per-hour",
                "--deletions-per-hour",
            ],
        ),
        ("export-schema", ["--output"]),
    ],
)
def test_every_flag_of_every_command_has_help(
    command: str, flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help_of(command, capsys)
    for flag in flags:
        # In the options list, a flag (and its metavar) is followed by words of its own
        # before the next flag: without help it would be followed by the next flag at once.
        described = text.split("options:", 1)[1].split(flag, 1)[1].split(" --", 1)[0]
        assert len(described.split()) >= 3, (command, flag, described)


def test_serve_help_states_the_defaults_the_readme_gives(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # README: http://127.0.0.1:8000/graphql by default; workers 1 in demo mode, auto live.
    text = _help_of("serve", capsys)
    assert "(default: 127.0.0.1)" in text
    assert "(default: 8000)" in text
    assert "(default: info)" in text
    assert "default auto in live mode, 1 in demo mode" in text
    assert "default: None" not in text


def test_serve_refuses_an_unknown_log_level(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--log-level", "loud"])
    assert exited.value.code == 2
    assert "invalid choice: 'loud'" in capsys.readouterr().err
