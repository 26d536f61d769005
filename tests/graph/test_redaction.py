"""A viewer reads no phone number, on any field of any vendor; a reviewer and an admin read them
all. Two tenants over the same simulated data, every vendor's simulator, and numbers put into
every field a simulator can fill beyond the ones it makes itself (callers, callees, Vectara's
customer numbers): the conversation material (`fake_data`: turns, tool names, arguments,
outputs and errors, summaries, tags, parameters), Vectara's titles, StateSet's QA notes.

What a client should read is stated from the simulators' models (tests/oracles) and this
test's own rule for where a number is: every number the simulators make, and every number put
in here, is a US number in the fictional 555-01xx range (`fake_data.phone_number`), matched by
`NUMBER` below, never by the code under test. A viewer's value is the truth with each such
number replaced by a `phone:` pseudonym and nothing else changed; one number, one pseudonym,
everywhere in a tenant's answers, another in another tenant's."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest

import graph.app
from graph.auth import ApiKey, AuthPolicy
from graph.schema import build_schema
from graph.settings import ConfigError, load_settings
from providers.records import Provider, SessionRecord
from providers.simulators import Simulator, fake_data, stateset, vectara
from resolvers.principal import Role
from resolvers.sources import build_simulators, demo_sources
from tests.conftest import ANCHOR
from tests.oracles import expected_records
from tests.support import FakeClock

SIZE = 10
TENANTS = ("default", "acme")
ROLES = (Role.VIEWER, Role.REVIEWER, Role.ADMIN)


def key(tenant: str, role: Role) -> str:
    return f"key-{tenant}-{role.label}"


# A number of the simulators' range as written anywhere: E.164, bare digits, national formats.
NUMBER = re.compile(r"(?:\+?1[\s.-]?)?(?:\(\d{3}\)|\d{3})[\s.-]?555[\s.-]?01\d\d")
# What no viewer's answer may hold anywhere: the local part of any of those numbers.
LOCAL_PART = re.compile(r"555[\s.-]?01\d\d")
PSEUDONYM = "phone:[0-9a-f]{12}"
# Put in here: one number in every field (in several writings), a second in some.
ONE, OTHER = "2125550147", "3125550188"


def national(written: str) -> str:
    return "".join(ch for ch in written if ch.isdigit())[-10:]


# --- numbers everywhere ----------------------------------------------------------------------


def _with_numbers(maker: Callable[..., fake_data.Conversation]) -> Any:
    """The topic's conversation, with numbers in every part of it. Values only, drawn from no
    RNG: every session's other values, and the topic's shape (`fake_data.sketch`), stay."""

    @functools.wraps(maker)
    def make(rng: Any, name: str, twist: bool | None) -> fake_data.Conversation:
        talk: fake_data.Conversation = maker(rng, name, twist)
        turns = [
            fake_data.Turn(turn.role, turn.text + extra)
            for turn, extra in zip(
                talk.turns,
                [" Or text us on 212.555.0147.", " You can reach me at (212) 555-0147."],
                strict=False,
            )
        ] + talk.turns[2:]
        tools = [
            fake_data.ToolUse(
                f"{tool.name}_to_{ONE}",
                {
                    **tool.arguments,
                    "callback": {"numbers": ["+1 212 555 0147"], "sms": 12125550147},
                },
                None if tool.result is None else {**tool.result, "sent_to": "+12125550147"},
                None if tool.error is None else f"{tool.error}; caller at 212-555-0147",
                tool.after_turn,
                tool.duration_ms,
            )
            for tool in talk.tools
        ]
        return fake_data.Conversation(
            talk.topic,
            turns,
            tools,
            [*talk.tags, f"callback-{ONE}"],
            f"{talk.summary} Call back on 312-555-0188.",
            {**talk.parameters, "callback_number": "+1 312 555 0188"},
        )

    return make


@pytest.fixture
def numbers_everywhere(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    wrapped = [_with_numbers(maker) for maker in fake_data._TOPICS]
    monkeypatch.setattr(fake_data, "_TOPICS", wrapped)
    for maker in wrapped:
        monkeypatch.setitem(fake_data._MAKERS, maker.__name__.lstrip("_"), maker)
    for topic, title in vectara._TOPIC_TITLES.items():
        monkeypatch.setitem(vectara._TOPIC_TITLES, topic, f"{title}, callback (212) 555-0147")
    notes = tuple(f"{note} Callback number +1 312 555 0188." for note in stateset._QA_NOTES)
    monkeypatch.setattr(stateset, "_QA_NOTES", notes)
    fake_data.sketch.cache_clear()  # sketched before (another test): shapes without the numbers
    yield
    fake_data.sketch.cache_clear()


# --- the gateway -----------------------------------------------------------------------------


@dataclass
class Gateway:
    client: httpx.AsyncClient
    simulators: dict[str, dict[Provider, Simulator]]

    async def ask(self, tenant: str, role: Role, query: str, **variables: Any) -> dict[str, Any]:
        answer = await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {key(tenant, role)}"},
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def truth(self, tenant: str, provider: Provider) -> dict[tuple[str | None, str], SessionRecord]:
        """By agent and id: Vectara's ids are unique per agent only."""
        return {(r.agent_id, r.id): r for r in expected_records(self.simulators[tenant][provider])}


@asynccontextmanager
async def gateway(fast: bool = True) -> AsyncIterator[Gateway]:
    """Both tenants over the same data (one seed): the same numbers, read by either."""
    clock = FakeClock(ANCHOR)
    simulators = {
        tenant: build_simulators(size=SIZE, seed=5, anchor=ANCHOR, clock=clock)
        for tenant in TENANTS
    }
    sources = {
        tenant: demo_sources(simulators=sims, clock=clock, tenant=tenant)
        for tenant, sims in simulators.items()
    }
    settings = load_settings(
        {"SESSIONGRAPH_CURSOR_SECRET": "redaction", "SESSIONGRAPH_INDEX_URL": "off"}
    )
    digests = {
        hashlib.sha256(key(tenant, role).encode()).hexdigest(): (tenant, role)
        for tenant in TENANTS
        for role in ROLES
    }
    keys = {
        digest: ApiKey(f"{tenant}-{role.label}", digest, tenant, role)
        for digest, (tenant, role) in digests.items()
    }
    settings = replace(settings, auth=AuthPolicy(required=True, keys=keys))
    schema = functools.partial(build_schema, fast_execution=fast)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(graph.app, "build_schema", schema)
        app = graph.app.create_app(settings, sources=sources, start_sync=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield Gateway(client, simulators)


PAGE = """query($p: [Provider!]) { sessions(first: 100, filter: {providers: $p}) { nodes {
  providerSessionId agent { providerAgentId } caller callee title summary
  tags { name category } parameters { name value type } metadata
  transcript { text turns { text rawSpeaker } }
  toolCalls { name arguments output error }
  flowSteps { nodeId requestId url tags }
  recording { url } } } }"""
FIELDS = (
    "caller",
    "callee",
    "title",
    "summary",
    "tags",
    "parameters",
    "metadata",
    "transcript",
    "toolCalls",
    "flowSteps",
)
# Where each vendor's sessions carry numbers here: what its simulator makes (callers; StateSet's
# and Vonage's callees, the agent's line; Vectara's customer number in metadata and parameters)
# and what this test puts in (vendors.md: which of them each vendor has at all).
CARRIERS = {
    Provider.SAMSARA: {"caller", "transcript", "toolCalls"},
    Provider.STATESET: {
        "caller",
        "callee",
        "summary",
        "tags",
        "metadata",
        "transcript",
        "toolCalls",
    },
    Provider.VECTARA: {
        "caller",
        "title",
        "summary",
        "tags",
        "parameters",
        "metadata",
        "transcript",
        "toolCalls",
    },
    Provider.VONAGE: {
        "caller",
        "callee",
        "tags",
        "parameters",
        "transcript",
        "toolCalls",
        "flowSteps",
    },
}


def plain(value: Any) -> Any:
    """As JSON carries it."""
    return json.loads(json.dumps(value, default=str))


def view(record: SessionRecord) -> dict[str, Any]:
    """The fields of PAGE as a client should read `record`, unredacted."""
    details = record.details
    assert details is not None
    return {
        "providerSessionId": record.id,
        "agent": None if record.agent_id is None else {"providerAgentId": record.agent_id},
        "caller": record.caller,
        "callee": record.callee,
        "title": record.title,
        "summary": record.summary,
        "tags": [{"name": t.name, "category": t.category} for t in record.tags],
        "parameters": [
            {"name": p.name, "value": p.value, "type": p.type} for p in record.parameters
        ],
        "metadata": plain(dict(record.metadata)),
        "transcript": {
            "text": "\n".join(f"{t.speaker.name}: {t.text}" for t in details.transcript),
            "turns": [{"text": t.text, "rawSpeaker": t.raw_speaker} for t in details.transcript],
        },
        "toolCalls": [
            {
                "name": c.name,
                "arguments": plain(c.arguments),
                "output": plain(c.output),
                "error": c.error,
            }
            for c in details.tool_calls
        ],
        "flowSteps": [
            {"nodeId": s.node_id, "requestId": s.request_id, "url": s.url, "tags": list(s.tags)}
            for s in details.flow_steps
        ],
    }


def carries_number(value: Any) -> bool:
    return bool(NUMBER.search(json.dumps(value)))


Seen = dict[str, set[str]]  # national number → the pseudonyms it was read as


def check_redacted(truth: Any, shown: Any, seen: Seen, where: str) -> None:
    """`shown` is `truth` with each of its numbers replaced by a pseudonym, nothing else."""
    if isinstance(truth, str):
        assert isinstance(shown, str), (where, truth, shown)
        numbers = [national(m.group()) for m in NUMBER.finditer(truth)]
        pieces = [re.escape(piece) for piece in NUMBER.split(truth)]
        pattern = f"({PSEUDONYM})".join(pieces)
        matched = re.fullmatch(pattern, shown)
        assert matched is not None, (where, truth, shown)
        for number, pseudonym in zip(numbers, matched.groups(), strict=True):
            seen.setdefault(number, set()).add(pseudonym)
    elif isinstance(truth, dict):
        assert isinstance(shown, dict), (where, truth, shown)
        assert not any(NUMBER.search(name) for name in truth)  # none put in keys here
        assert set(shown) == set(truth), where
        for name, value in truth.items():
            check_redacted(value, shown[name], seen, f"{where}.{name}")
    elif isinstance(truth, list):
        assert isinstance(shown, list) and len(shown) == len(truth), (where, truth, shown)
        for index, (value, got) in enumerate(zip(truth, shown, strict=True)):
            check_redacted(value, got, seen, f"{where}[{index}]")
    elif isinstance(truth, int) and not isinstance(truth, bool) and NUMBER.fullmatch(str(truth)):
        assert isinstance(shown, str) and re.fullmatch(PSEUDONYM, shown), (where, truth, shown)
        seen.setdefault(national(str(truth)), set()).add(shown)
    else:
        assert shown == truth, where


async def read_all(gateway: Gateway, tenant: str, role: Role, provider: Provider) -> list[Any]:
    body = await gateway.ask(tenant, role, PAGE, p=[provider.name])
    assert "errors" not in body, body["errors"]
    nodes: list[Any] = body["data"]["sessions"]["nodes"]
    assert nodes
    return nodes


def identity(node: dict[str, Any]) -> tuple[str | None, str]:
    agent = node["agent"]
    return (None if agent is None else agent["providerAgentId"], node["providerSessionId"])


def check_viewer(
    nodes: list[Any],
    truth: dict[tuple[str | None, str], SessionRecord],
    provider: Provider,
    seen: Seen,
) -> None:
    carriers: set[str] = set()
    for node in nodes:
        record = truth[identity(node)]
        expected = view(record)
        carriers |= {name for name in FIELDS if carries_number(expected[name])}
        check_redacted(expected, {k: v for k, v in node.items() if k != "recording"}, seen, "")
        assert node["recording"] is None
    assert carriers == CARRIERS[provider]  # every field that carries one here was checked
    assert not LOCAL_PART.search(json.dumps(nodes))


async def test_a_viewer_reads_no_number_on_any_field_of_any_vendor_one_pseudonym_each(
    numbers_everywhere: None,
) -> None:
    async with gateway() as running:
        seen: Seen = {}
        for provider in Provider:
            nodes = await read_all(running, "default", Role.VIEWER, provider)
            check_viewer(nodes, running.truth("default", provider), provider, seen)
        assert {ONE, OTHER} <= set(seen)
        assert all(len(pseudonyms) == 1 for pseudonyms in seen.values()), seen
        # Different numbers, different pseudonyms.
        assert len({p for pseudonyms in seen.values() for p in pseudonyms}) == len(seen)
        # The simulators' own numbers were read too, not only the ones put in here.
        assert len(seen) > 2


async def test_reviewers_and_admins_read_every_number_and_recording(
    numbers_everywhere: None,
) -> None:
    async with gateway() as running:
        for role in (Role.REVIEWER, Role.ADMIN):
            recordings = 0
            for provider in Provider:
                nodes = await read_all(running, "default", role, provider)
                truth = running.truth("default", provider)
                for node in nodes:
                    record = truth[identity(node)]
                    assert {k: v for k, v in node.items() if k != "recording"} == view(record)
                    assert record.details is not None
                    assert (node["recording"] is None) is (record.details.recording is None)
                    recordings += node["recording"] is not None
                assert LOCAL_PART.search(json.dumps(nodes))  # the scan above can find them
            assert recordings > 0


async def test_another_tenant_reads_the_same_numbers_under_other_pseudonyms(
    numbers_everywhere: None,
) -> None:
    async with gateway() as running:
        seen: dict[str, Seen] = {tenant: {} for tenant in TENANTS}
        for tenant in TENANTS:
            for provider in Provider:
                nodes = await read_all(running, tenant, Role.VIEWER, provider)
                check_viewer(nodes, running.truth(tenant, provider), provider, seen[tenant])
        default, acme = seen["default"], seen["acme"]
        assert set(default) == set(acme)  # the same data
        for number, pseudonyms in default.items():
            assert pseudonyms.isdisjoint(acme[number]), number


FILTERED = """query($f: SessionFilter) { sessions(first: 5, filter: $f) {
  nodes { providerSessionId caller } } }"""


@pytest.mark.parametrize(
    "probe",
    [
        {"phoneNumber": "+1 212 555 0147"},
        {"text": "0147"},
        {"text": "reach 555"},
        {"tags": [f"callback-{ONE}"]},
    ],
)
async def test_a_viewers_filter_probing_for_a_number_is_forbidden(
    numbers_everywhere: None, probe: dict[str, Any]
) -> None:
    async with gateway() as running:
        refused = await running.ask("default", Role.VIEWER, FILTERED, f=probe)
        [error] = refused["errors"]
        assert error["extensions"] == {"code": "FORBIDDEN"}
        assert refused["data"] is None
        allowed = await running.ask("default", Role.REVIEWER, FILTERED, f=probe)
        assert "errors" not in allowed
        # The words and the tag are in the data (put there above); no caller has that number.
        assert bool(allowed["data"]["sessions"]["nodes"]) is ("phoneNumber" not in probe)


async def test_a_viewers_filter_without_digits_is_answered_redacted(
    numbers_everywhere: None,
) -> None:
    async with gateway() as running:
        body = await running.ask(
            "default", Role.VIEWER, FILTERED, f={"text": "reach me", "tags": ["order"]}
        )
        assert "errors" not in body
        nodes = body["data"]["sessions"]["nodes"]
        assert nodes and not LOCAL_PART.search(json.dumps(nodes))


WITH_DIRECTIVE = PAGE.replace("caller callee", "caller @include(if: true) callee")


async def test_the_compiled_and_the_standard_executor_redact_alike(
    numbers_everywhere: None,
) -> None:
    """The compiled path reads record attributes directly: the redaction must be there
    before. Plans shared across requests (no directive), per request (a directive), and
    graphql-core's own executor give one answer."""
    answers = []
    for fast in (True, False):
        async with gateway(fast=fast) as running:
            for query in (PAGE, WITH_DIRECTIVE, PAGE):  # the second PAGE: a shared plan
                body = await running.ask("default", Role.VIEWER, query)
                answers.append({k: v for k, v in body.items() if k != "extensions"})  # costs
    first = answers[0]
    assert "errors" not in first and not LOCAL_PART.search(json.dumps(first))
    assert all(answer == first for answer in answers)


async def test_a_malformed_vonage_detail_is_still_one_error_on_its_field_for_a_viewer(
    numbers_everywhere: None,
) -> None:
    """Vonage's details are mapped when read, and redacted when read: a transcript of the
    wrong shape is null with one typed error, and the session's other fields stand."""
    async with gateway() as running:
        vonage = running.simulators["default"][Provider.VONAGE]
        nodes = await read_all(running, "default", Role.VIEWER, Provider.VONAGE)
        broken = nodes[0]["providerSessionId"]
        [document] = [d for d in vonage.documents if d["id"] == broken]  # type: ignore[attr-defined]
        document["transcription"] = "not a list"
        body = await running.ask("default", Role.VIEWER, PAGE, p=["VONAGE"])
        [error] = body["errors"]
        assert error["extensions"] == {
            "code": "UPSTREAM_BAD_RESPONSE",
            "provider": "VONAGE",
            "retryable": False,
        }
        assert error["path"] == ["sessions", "nodes", 0, "transcript"]
        again = body["data"]["sessions"]["nodes"]
        assert again[0]["transcript"] is None
        assert {k: v for k, v in again[0].items() if k != "transcript"} == {
            k: v for k, v in nodes[0].items() if k != "transcript"
        }
        assert again[1:] == nodes[1:]


async def test_a_session_read_by_node_id_is_redacted_as_in_the_list(
    numbers_everywhere: None,
) -> None:
    async with gateway() as running:
        listed = await running.ask(
            "default",
            Role.VIEWER,
            """{ sessions(first: 3, filter: {providers: [VONAGE, STATESET]}) {
              nodes { id caller callee transcript { text } recording { url } } } }""",
        )
        nodes = listed["data"]["sessions"]["nodes"]
        assert any(node["caller"] and re.fullmatch(PSEUDONYM, node["caller"]) for node in nodes)
        for node in nodes:
            body = await running.ask(
                "default",
                Role.VIEWER,
                """query($id: ID!) { node(id: $id) { ... on Session {
                  id caller callee transcript { text } recording { url } } } }""",
                id=node["id"],
            )
            assert body["data"]["node"] == node
            assert node["recording"] is None and not LOCAL_PART.search(json.dumps(node))


def test_the_phone_region_is_a_setting() -> None:
    assert load_settings({}).phone_region == "US"
    assert load_settings({"SESSIONGRAPH_PHONE_REGION": "gb"}).phone_region == "GB"
    with pytest.raises(ConfigError, match="SESSIONGRAPH_PHONE_REGION"):
        load_settings({"SESSIONGRAPH_PHONE_REGION": "XX"})
