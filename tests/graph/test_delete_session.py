"""`deleteSession` and `auditRecords` over the demo app with API keys of each role: an admin
deletes a Vonage and a Vectara session (the vendor's DELETE as its contract says, then the
session gone from the next page with every cache warm, from `node(id)` and from the index);
NOT_FOUND, NOT_SUPPORTED, FORBIDDEN and BAD_USER_INPUT in the payload, the last three without
a vendor call; one audit row and one log line per attempt, naming the key by its id only;
`auditRecords` for admins, paged, and AUDIT_UNAVAILABLE with the index off. What a client
should see comes from the simulators' models (tests/oracles) and the tests' own statements."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest

from graph.app import create_app
from graph.auth import ApiKey, AuthPolicy
from graph.settings import load_settings
from index.state import ScopeKey
from index.store import IndexStore
from providers.records import Provider, SessionRef, SessionStatus
from providers.simulators import Simulator
from resolvers.deletion import delete_session
from resolvers.principal import Principal, Role, tenant_tag
from resolvers.sources import Sources, build_simulators, demo_sources
from tests.conftest import ANCHOR
from tests.oracles import expected_records
from tests.pg import index_url, postgres_url  # noqa: F401 - fixtures: both index backends
from tests.support import FakeClock

KEYS = {
    Role.ADMIN: "sg_admin_key_0123456789",
    Role.REVIEWER: "sg_reviewer_key_0123456789",
    Role.VIEWER: "sg_viewer_key_0123456789",
}
KEY_IDS = {role: f"{role.label}-key" for role in KEYS}
AUDIT = "sessiongraph.audit"
INDEXED = {Provider.STATESET, Provider.VECTARA}  # README: the vendors without order

DELETE = """mutation($id: ID!) {
  deleteSession(id: $id) { deletedId errors { code message provider retryable } }
}"""
PAGE = """query($p: [Provider!]) {
  sessions(first: 100, filter: {providers: $p}) {
    nodes { id providerSessionId status agent { id } transcript { text } }
    sources { provider ok fromIndex }
  }
}"""
NODE = "query($id: ID!) { node(id: $id) { ... on Session { id transcript { text } } } }"
RECORDS = """query($first: Int!, $after: String) {
  auditRecords(first: $first, after: $after) {
    at tenant keyId action targetId provider providerSessionId outcome message cursor
  }
}"""


@dataclass
class Deployment:
    client: httpx.AsyncClient
    sources: Sources
    simulators: dict[Provider, Simulator]

    async def ask(self, role: Role, query: str, **variables: Any) -> dict[str, Any]:
        answer = await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {KEYS[role]}"},
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def delete(self, role: Role, node_id: str) -> dict[str, Any]:
        body = await self.ask(role, DELETE, id=node_id)
        assert "errors" not in body, body
        payload: dict[str, Any] = body["data"]["deleteSession"]
        return payload

    async def page(self, provider: Provider) -> list[dict[str, Any]]:
        body = await self.ask(Role.VIEWER, PAGE, p=[provider.name])
        assert "errors" not in body, body
        connection = body["data"]["sessions"]
        (source,) = connection["sources"]
        assert source["ok"]
        indexed = self.sources.index is not None and provider in INDEXED
        assert source["fromIndex"] is indexed, source
        nodes: list[dict[str, Any]] = connection["nodes"]
        return nodes

    def calls(self) -> int:
        return sum(len(simulator.log) for simulator in self.simulators.values())

    @property
    def store(self) -> IndexStore:
        assert self.sources.index is not None, self.sources.index_error
        return self.sources.index.store


@asynccontextmanager
async def deployed(
    index: str, simulators: dict[Provider, Simulator] | None = None
) -> AsyncIterator[Deployment]:
    """The demo app over 20 sessions a vendor, with one key of each role (tenant `default`)
    and the index at `index` ("off": none), synced once; `simulators`: vendors another
    deployment talks to as well."""
    clock = FakeClock(ANCHOR)
    if simulators is None:
        simulators = build_simulators(size=20, seed=4, anchor=ANCHOR, clock=clock)
    sources = demo_sources(simulators=simulators, clock=clock)
    settings = load_settings(
        {"SESSIONGRAPH_CURSOR_SECRET": "deletes", "SESSIONGRAPH_INDEX_URL": index}
    )
    keys = {}
    for role, key in KEYS.items():
        digest = hashlib.sha256(key.encode()).hexdigest()
        keys[digest] = ApiKey(KEY_IDS[role], digest, "default", role)
    settings = replace(settings, auth=AuthPolicy(required=True, keys=keys))
    app = create_app(settings, sources=sources, start_sync=False)
    async with app.router.lifespan_context(app):
        if sources.index is not None:
            await sources.index.syncer.run_once()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield Deployment(client, sources, simulators)


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT]


def node_id_with(node_id: str, **parts: str) -> str:
    """`node_id` with some of its parts (`provider|id|agent|day|lookup`) replaced: the
    format resolvers/nodes.py documents, written here by hand."""
    type_name, _, body = base64.b64decode(node_id).decode().partition(":")
    fields = dict(zip(("provider", "id", "agent", "day", "lookup"), body.split("|"), strict=True))
    fields.update(parts)
    return base64.b64encode(f"{type_name}:{'|'.join(fields.values())}".encode()).decode()


def tagged_for(node_id: str, tenant: str) -> str:
    """`node_id` as minted for another tenant: its body, `|~` and that tenant's tag."""
    decoded = base64.b64decode(node_id).decode()
    return base64.b64encode(f"{decoded}|~{tenant_tag(tenant)}".encode()).decode()


def finished(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """A session that has ended: the record cache keeps those (never running ones)."""
    return next(node for node in nodes if node["status"] != SessionStatus.ACTIVE.name)


@pytest.mark.parametrize("provider", [Provider.VONAGE, Provider.VECTARA])
async def test_an_admin_deletes_a_session_everywhere(
    provider: Provider,
    index_url: str,  # noqa: F811 - the fixture imported above, on each backend
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with deployed(index_url) as deployment:
        simulator = deployment.simulators[provider]
        nodes = await deployment.page(provider)
        truth = sorted(r.id for r in expected_records(simulator))
        assert sorted(n["providerSessionId"] for n in nodes) == truth
        assert len(truth) == simulator.size
        doomed = finished(nodes)
        record = next(r for r in expected_records(simulator) if r.id == doomed["providerSessionId"])
        # Every cache warm: the node read twice, the second time from the record cache.
        assert (await deployment.ask(Role.VIEWER, NODE, id=doomed["id"]))["data"]["node"]
        before = deployment.calls()
        assert (await deployment.ask(Role.VIEWER, NODE, id=doomed["id"]))["data"]["node"]
        assert deployment.calls() == before
        if provider is Provider.VECTARA:
            held = await deployment.store.known_ids(_scope(record.agent_id), [record.id])
            assert held == {record.id}

        simulator.log.clear()
        payload = await deployment.delete(Role.ADMIN, doomed["id"])

        assert payload == {"deletedId": doomed["id"], "errors": []}
        (call,) = simulator.log.entries
        assert (call.method, call.status) == ("DELETE", 204)
        if provider is Provider.VONAGE:
            assert call.path == f"/insights/sessions/{record.id}"
            assert call.query == {"session_start_time": [record.started_at.date().isoformat()]}
        else:
            assert call.path == f"/v2/agents/{record.agent_id}/sessions/{record.id}"
            assert call.query == {}
            assert await deployment.store.known_ids(_scope(record.agent_id), [record.id]) == set()
        left = [r.id for r in expected_records(simulator)]
        assert record.id not in left and len(left) == simulator.size - 1

        after = await deployment.page(provider)
        assert sorted(n["providerSessionId"] for n in after) == sorted(left)
        assert (await deployment.ask(Role.VIEWER, NODE, id=doomed["id"]))["data"]["node"] is None

        (row,) = await deployment.store.audit_records("default", None, 10)
        assert (row.key_id, row.tenant, row.action, row.outcome) == (
            "admin-key",
            "default",
            "deleteSession",
            "DELETED",
        )
        assert (row.target, row.provider, row.session_id) == (
            doomed["id"],
            provider.name,
            record.id,
        )
        assert row.at == ANCHOR  # the clock's "now": it has not moved
        (line,) = audit_lines(caplog)
        assert line == {**line, "key_id": "admin-key", "outcome": "DELETED", "tenant": "default"}
        assert line["session_id"] == record.id and line["provider"] == provider.name
    for key in KEYS.values():
        assert key not in caplog.text


def _scope(agent_id: str | None) -> ScopeKey:
    return ScopeKey("default", Provider.VECTARA, agent_id or "")


@pytest.mark.parametrize("provider", [Provider.VONAGE, Provider.VECTARA])
async def test_a_delete_made_by_another_process_leaves_this_ones_cache_at_its_next_read(
    provider: Provider,
    index_url: str,  # noqa: F811 - the fixture imported above, on each backend
) -> None:
    """Two processes over one index and the same vendors (workers of one `serve`, replicas):
    the one that did not delete drops its copy when it reads the store's audit records."""
    async with deployed(index_url) as here, deployed(index_url, here.simulators) as there:
        feed = there.sources.index.deletions if there.sources.index else None
        assert feed is not None
        assert await feed.run_once() == 0  # the first read notes where the records end
        doomed = finished(await here.page(provider))
        assert (await there.ask(Role.VIEWER, NODE, id=doomed["id"]))["data"]["node"]
        before = there.calls()  # `there` keeps the details: read again without a call
        assert (await there.ask(Role.VIEWER, NODE, id=doomed["id"]))["data"]["node"]
        assert there.calls() == before

        payload = await here.delete(Role.ADMIN, doomed["id"])

        assert payload == {"deletedId": doomed["id"], "errors": []}
        # Until its next read (every second when serving) `there` still has its copy.
        assert (await there.ask(Role.VIEWER, NODE, id=doomed["id"]))["data"]["node"]
        assert there.calls() == before + 1  # the DELETE only
        assert await feed.run_once() == 1
        assert await feed.run_once() == 0  # read once
        assert (await there.ask(Role.VIEWER, NODE, id=doomed["id"]))["data"]["node"] is None
        assert there.calls() > before + 1  # asked the vendor, which has it no more


async def test_every_outcome_is_in_the_payload_and_audited_once(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Each refusal in the payload with its code, the refused ones before any vendor call;
    one audit row and one log line per attempt, newest first, naming the key by its id."""
    caplog.set_level(logging.DEBUG)
    async with deployed(f"sqlite:///{tmp_path}/index.db") as deployment:
        ids = {p: (await deployment.page(p))[0]["id"] for p in Provider}
        vonage = ids[Provider.VONAGE]
        unknown = node_id_with(vonage, id="00000000-0000-4000-8000-000000000000")
        foreign = tagged_for(vonage, "acme")
        agent = base64.b64encode(b"Agent:vonage|some_agent").decode()
        attempts = [
            # (role, id, code, vendor calls)
            (Role.VIEWER, vonage, "FORBIDDEN", 0),
            (Role.REVIEWER, ids[Provider.VECTARA], "FORBIDDEN", 0),
            (Role.VIEWER, "garbage", "FORBIDDEN", 0),  # the role first: nothing said of the id
            (Role.ADMIN, ids[Provider.SAMSARA], "NOT_SUPPORTED", 0),
            (Role.ADMIN, ids[Provider.STATESET], "NOT_SUPPORTED", 0),
            (Role.ADMIN, "garbage", "BAD_USER_INPUT", 0),
            (Role.ADMIN, agent, "BAD_USER_INPUT", 0),
            (Role.ADMIN, foreign, "BAD_USER_INPUT", 0),
            (Role.ADMIN, unknown, "NOT_FOUND", 1),
        ]
        for role, node_id, code, calls in attempts:
            before = deployment.calls()
            payload = await deployment.delete(role, node_id)
            assert payload["deletedId"] is None, (role, code)
            (error,) = payload["errors"]
            assert error["code"] == code, (role, code, error)
            assert error["message"]
            assert deployment.calls() - before == calls, (role, code)
            if node_id == foreign:
                assert "tenant" in error["message"]
        not_found = payload["errors"][0]
        assert (not_found["provider"], not_found["retryable"]) == ("VONAGE", False)
        assert len(expected_records(deployment.simulators[Provider.VONAGE])) == 20

        rows = await deployment.store.audit_records("default", None, 100)
        lines = audit_lines(caplog)
        expected = [(KEY_IDS[role], node_id, code) for role, node_id, code, _ in attempts]
        assert [(r.key_id, r.target, r.outcome) for r in reversed(rows)] == expected
        assert [(line["key_id"], line["target"], line["outcome"]) for line in lines] == expected
        assert all(r.action == "deleteSession" and r.tenant == "default" for r in rows)
        assert rows[0].session_id == "00000000-0000-4000-8000-000000000000"
        assert rows[0].provider == "VONAGE"
        garbage = next(r for r in rows if r.target == "garbage")
        assert (garbage.provider, garbage.session_id) == (None, None)

        # Read back through the API, by an admin, a page at a time.
        first = await deployment.ask(Role.ADMIN, RECORDS, first=4)
        page = first["data"]["auditRecords"]
        assert [r["outcome"] for r in page] == [code for *_, code, _ in attempts][::-1][:4]
        assert page[0]["keyId"] == "admin-key" and page[0]["provider"] == "VONAGE"
        assert page[0]["targetId"] == unknown and page[0]["at"].startswith("2026-11-01T00:00:00")
        rest = await deployment.ask(Role.ADMIN, RECORDS, first=100, after=page[-1]["cursor"])
        assert len(rest["data"]["auditRecords"]) == len(attempts) - 4
    for key in KEYS.values():
        assert key not in caplog.text


async def test_audit_records_are_for_admins_and_checked(tmp_path: Any) -> None:
    async with deployed(f"sqlite:///{tmp_path}/index.db") as deployment:
        for role in (Role.VIEWER, Role.REVIEWER):
            body = await deployment.ask(role, RECORDS, first=5)
            assert body["data"] is None
            (error,) = body["errors"]
            assert error["extensions"] == {"code": "FORBIDDEN"}
            assert error["path"] == ["auditRecords"]
        forged = base64.urlsafe_b64encode(b"audit:x1").decode()
        for variables in (
            {"first": 0},
            {"first": 101},
            {"first": 5, "after": "not-a-cursor"},
            {"first": 5, "after": "%%%"},
            {"first": 5, "after": "é"},
            {"first": 5, "after": "abc"},
            {"first": 5, "after": forged},
        ):
            body = await deployment.ask(Role.ADMIN, RECORDS, **variables)
            assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}, variables
        assert (await deployment.ask(Role.ADMIN, RECORDS, first=5))["data"] == {"auditRecords": []}


async def test_with_the_index_off_deletes_go_on_and_audit_is_in_the_log_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT)
    async with deployed("off") as deployment:
        doomed = finished(await deployment.page(Provider.VONAGE))
        payload = await deployment.delete(Role.ADMIN, doomed["id"])
        assert payload == {"deletedId": doomed["id"], "errors": []}
        ids = [n["providerSessionId"] for n in await deployment.page(Provider.VONAGE)]
        assert doomed["providerSessionId"] not in ids and len(ids) == 19
        body = await deployment.ask(Role.ADMIN, RECORDS, first=5)
        (error,) = body["errors"]
        assert error["extensions"] == {"code": "AUDIT_UNAVAILABLE"}
        assert "sessiongraph.audit" in error["message"]
    (line,) = audit_lines(caplog)
    assert (line["outcome"], line["key_id"]) == ("DELETED", "admin-key")


async def test_a_vendor_failure_is_in_the_payload_and_a_get_cannot_delete(
    tmp_path: Any,
) -> None:
    async with deployed(f"sqlite:///{tmp_path}/index.db") as deployment:
        simulator = deployment.simulators[Provider.VONAGE]
        doomed = finished(await deployment.page(Provider.VONAGE))

        # GraphQL over HTTP: a GET may not run a mutation (nothing runs, nothing is audited).
        before = deployment.calls()
        answer = await deployment.client.get(
            "/graphql",
            params={"query": DELETE, "variables": json.dumps({"id": doomed["id"]})},
            headers={"Authorization": f"Bearer {KEYS[Role.ADMIN]}"},
        )
        assert answer.status_code == 400, answer.text
        (refused,) = answer.json()["errors"]
        assert refused["extensions"] == {"code": "BAD_REQUEST"}
        assert deployment.calls() == before

        simulator.faults.error_status = 503
        payload = await deployment.delete(Role.ADMIN, doomed["id"])
        simulator.faults.reset()
        assert payload["deletedId"] is None
        (error,) = payload["errors"]
        assert (error["code"], error["provider"], error["retryable"]) == (
            "UPSTREAM_UNAVAILABLE",
            "VONAGE",
            True,
        )
        assert len(expected_records(simulator)) == 20  # still there

        # Two deletes of one session in one operation run one after the other.
        both = await deployment.ask(
            Role.ADMIN,
            "mutation($id: ID!) { a: deleteSession(id: $id) { deletedId errors { code } }"
            " b: deleteSession(id: $id) { deletedId errors { code } } }",
            id=doomed["id"],
        )
        assert both["data"] == {
            "a": {"deletedId": doomed["id"], "errors": []},
            "b": {"deletedId": None, "errors": [{"code": "NOT_FOUND"}]},
        }
        outcomes = [r.outcome for r in await deployment.store.audit_records("default", None, 9)]
        assert outcomes == ["NOT_FOUND", "DELETED", "UPSTREAM_UNAVAILABLE"]  # not the GET


async def test_a_delete_cut_short_or_a_bug_is_audited_too(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A request cut by its deadline during the vendor call: UNKNOWN (the vendor may have
    deleted); a bug: INTERNAL_SERVER_ERROR, the client told nothing more."""
    caplog.set_level(logging.INFO, logger=AUDIT)
    async with deployed(f"sqlite:///{tmp_path}/index.db") as deployment:
        adapter = deployment.sources.adapters[Provider.VONAGE]
        record = expected_records(deployment.simulators[Provider.VONAGE])[0]
        admin = Principal("default", Role.ADMIN, "admin-key")

        async def hangs(ref: SessionRef) -> None:
            await asyncio.Event().wait()

        monkeypatch.setattr(adapter, "delete_session", hangs)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await delete_session(deployment.sources, admin, "the-id", lambda: record.ref)

        async def breaks(ref: SessionRef) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(adapter, "delete_session", breaks)
        doomed = (await deployment.page(Provider.VONAGE))[0]
        body = await deployment.ask(Role.ADMIN, DELETE, id=doomed["id"])
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["INTERNAL_SERVER_ERROR"]

        rows = await deployment.store.audit_records("default", None, 9)
        assert [(r.outcome, r.session_id) for r in rows] == [
            ("INTERNAL_SERVER_ERROR", doomed["providerSessionId"]),
            ("UNKNOWN", record.id),
        ]
    assert [line["outcome"] for line in audit_lines(caplog)] == ["UNKNOWN", "INTERNAL_SERVER_ERROR"]


async def test_an_index_that_cannot_be_written_does_not_undo_a_delete(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The vendor deleted: the client is told so; the index's row goes at the list's next full
    read, and the audit record is in the log line. Both failures are logged as errors."""
    caplog.set_level(logging.INFO)
    async with deployed(f"sqlite:///{tmp_path}/index.db") as deployment:
        doomed = finished(await deployment.page(Provider.VECTARA))
        unconfigured = (await deployment.page(Provider.SAMSARA))[0]["id"]

        async def fails(*args: Any) -> Any:
            raise OSError("disk full")

        monkeypatch.setattr(deployment.store, "forget_session", fails)
        monkeypatch.setattr(deployment.store, "add_audit", fails)
        payload = await deployment.delete(Role.ADMIN, doomed["id"])
        assert payload == {"deletedId": doomed["id"], "errors": []}

        del deployment.sources.adapters[Provider.SAMSARA]
        payload = await deployment.delete(Role.ADMIN, unconfigured)
        assert [e["code"] for e in payload["errors"]] == ["PROVIDER_NOT_CONFIGURED"]
    assert [line["outcome"] for line in audit_lines(caplog)] == [
        "DELETED",
        "PROVIDER_NOT_CONFIGURED",
    ]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("could not be dropped" in message for message in errors)
    assert sum("could not be stored" in message for message in errors) == 2


async def test_a_delete_is_priced_at_one_vendor_call(tmp_path: Any) -> None:
    """README, Query cost: deleteSession costs 1 for a vendor that can delete, else 0."""
    async with deployed(f"sqlite:///{tmp_path}/index.db") as deployment:
        vonage = finished(await deployment.page(Provider.VONAGE))["id"]
        samsara = (await deployment.page(Provider.SAMSARA))[0]["id"]
        priced = {}
        for name, node_id in (("vonage", vonage), ("samsara", samsara), ("garbage", "x")):
            body = await deployment.ask(Role.ADMIN, DELETE, id=node_id)
            priced[name] = body["extensions"]["cost"]
        assert priced == {
            "vonage": {"estimated": 1, "actual": 1},
            "samsara": {"estimated": 0, "actual": 0},
            "garbage": {"estimated": 0, "actual": 0},
        }
