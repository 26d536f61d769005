"""The subgraph's side of federation, in process: `_service { sdl }` declares the entities and
their key, and `_entities` loads references as `nodes` loads ids: the same answers, the same
vendor calls (one batch per vendor, not one call per reference), the same errors, the same
price, tenants and roles as everywhere else."""

from __future__ import annotations

import base64
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from graphql import build_schema

from graph.federation import self_contained
from providers.records import Provider
from resolvers.principal import Role
from tests.conftest import Gateway, running_gateway
from tests.graph import test_introspection as introspection
from tests.graph.test_fastpath import _same, gateway_pair
from tests.graph.test_redaction import LOCAL_PART, PSEUDONYM
from tests.graph.test_redaction import gateway as redaction_gateway
from tests.graph.test_redaction import numbers_everywhere as numbers_everywhere  # a fixture
from tests.graph.test_tenants import two_tenants
from tests.resolvers.test_vendor_calls import calls

ENTITIES = """query($r: [_Any!]!) { _entities(representations: $r) {
  __typename
  ... on Session { id provider providerSessionId startedAt transcript { text } }
  ... on Agent { id provider providerAgentId name }
} }"""
NODES = """query($ids: [ID!]!) { nodes(ids: $ids) {
  __typename
  ... on Session { id provider providerSessionId startedAt transcript { text } }
  ... on Agent { id provider providerAgentId name }
} }"""
LISTED = """query($p: [Provider!]) { sessions(first: 10, filter: {providers: $p}) { nodes {
  __typename id provider providerSessionId startedAt transcript { text } agent { id } } } }"""
IDS_ONLY = """query($p: [Provider!]) {
  sessions(first: 10, filter: {providers: $p}) { nodes { id } } }"""


def refs(ids: list[str], typename: str = "Session") -> list[dict[str, str]]:
    return [{"__typename": typename, "id": node_id} for node_id in ids]


def error_of(body: dict[str, Any]) -> tuple[str, str]:
    (error,) = body["errors"]
    return error["extensions"]["code"], error["message"]


async def listed(gateway: Gateway, *providers: Provider) -> list[dict[str, Any]]:
    body = await gateway.query(LISTED, p=[p.name for p in providers] or None)
    assert "errors" not in body, body["errors"]
    nodes: list[dict[str, Any]] = body["data"]["sessions"]["nodes"]
    return nodes


# --- the SDL -------------------------------------------------------------------------------------


async def test_the_sdl_declares_both_entities_keyed_by_their_id(gateway: Gateway) -> None:
    body = await gateway.query("{ _service { sdl } }")
    sdl = body["data"]["_service"]["sdl"]
    assert '@link(url: "https://specs.apollo.dev/federation/v2.0", import: ["@key"])' in sdl
    assert re.search(r'type Session implements Node @key\(fields: "id"', sdl)
    assert re.search(r'type Agent implements Node @key\(fields: "id"', sdl)
    # As a router reads it: the federation directives are imported, not defined.
    assert "directive @key" not in sdl


async def test_the_sdl_is_shown_to_whom_introspection_is() -> None:
    sdl = {"query": "{ _service { sdl } }"}
    (shown,) = await introspection.ask(introspection.live("on"), sdl)
    assert shown.json()["data"]["_service"]["sdl"].startswith("schema @link(")
    for settings in (introspection.live(), introspection.live("on", auth=False)):
        (refused,) = await introspection.ask(settings, sdl)
        assert refused.json()["data"] is None
        (error,) = refused.json()["errors"]
        assert error["extensions"] == {"code": "INTROSPECTION_DISABLED"}
        assert "`_service`" in error["message"]


def test_the_checked_in_schema_defines_the_directives_it_applies() -> None:
    text = (Path(__file__).parents[2] / "schema.graphql").read_text()
    built = build_schema(text)  # refuses a directive applied but not defined
    assert built.get_directive("key") is not None and built.get_directive("link") is not None
    assert text.startswith('schema @link(url: "https://specs.apollo.dev/federation/v2.0"')
    assert built.get_type("_Entity") is not None


def test_a_directive_without_its_specs_definition_is_an_error() -> None:
    with pytest.raises(ValueError, match="definition of @shareable"):
        self_contained("type Query @shareable { a: Int }")
    assert self_contained("type Query { a: Int }") == "type Query { a: Int }"


# --- batched as `nodes` ----------------------------------------------------------------------


async def counted(query: str, providers: list[Provider], **variables: Any) -> tuple[Any, ...]:
    """On a fresh gateway (no cache holds a detail yet): the ids of a page of `providers`
    listed without details, then `query` with them (`ids=`, `r=` their references) and the
    vendor calls it made, then the page with details: what each id should read."""
    async with running_gateway() as gateway:
        page = await gateway.query(IDS_ONLY, p=[p.name for p in providers] or None)
        ids = [node["id"] for node in page["data"]["sessions"]["nodes"]][::-1]
        gateway.clear_logs()
        body = await gateway.query(query, ids=ids, r=refs(ids))
        made = calls(gateway)
        reference = [
            {k: v for k, v in node.items() if k != "agent"}
            for node in await listed(gateway, *providers)
        ][::-1]
    return ids, body, made, reference


@pytest.mark.parametrize("provider", list(Provider), ids=lambda p: p.value)
async def test_references_of_one_vendor_cost_the_calls_nodes_makes(provider: Provider) -> None:
    ids, body, by_entities, reference = await counted(ENTITIES, [provider])
    _, by_nodes_body, by_nodes, _ = await counted(NODES, [provider])
    assert len(ids) == 10
    assert "errors" not in body, body["errors"]
    # The connection's answer (the list and its details: another path) is the reference.
    assert body["data"]["_entities"] == reference
    assert by_nodes_body["data"]["nodes"] == reference
    assert by_entities == by_nodes
    assert sum(by_entities[provider].values()) > 0
    if provider is Provider.SAMSARA:  # one details call serves up to 100 ids
        assert by_entities[provider] == Counter({"detail": 1})


async def test_references_of_every_vendor_at_once_cost_one_batch_each() -> None:
    _, body, by_entities, reference = await counted(ENTITIES, [])
    _, _, by_nodes, _ = await counted(NODES, [])
    assert len({node["provider"] for node in reference}) > 1
    assert body["data"]["_entities"] == reference
    assert by_entities == by_nodes
    assert by_entities[Provider.SAMSARA]["detail"] == 1


async def test_agents_are_entities_too(gateway: Gateway) -> None:
    nodes = await listed(gateway, Provider.STATESET)
    agent_ids = list(dict.fromkeys(node["agent"]["id"] for node in nodes))
    body = await gateway.query(ENTITIES, r=refs(agent_ids, "Agent"))
    by_nodes = await gateway.query(NODES, ids=agent_ids)
    assert "errors" not in body, body["errors"]
    entities = body["data"]["_entities"]
    assert [e["id"] for e in entities] == agent_ids
    assert all(e["__typename"] == "Agent" and e["provider"] == "STATESET" for e in entities)
    assert entities == by_nodes["data"]["nodes"]


# --- errors as `nodes` -----------------------------------------------------------------------


async def test_a_malformed_id_is_the_error_nodes_gives(gateway: Gateway) -> None:
    (real,) = [node["id"] for node in await listed(gateway, Provider.VONAGE)][:1]
    gateway.clear_logs()
    for bad in ("not-an-id", real[:-4], base64.b64encode(b"Session:nope|1|||").decode()):
        by_entities = await gateway.query(ENTITIES, r=refs([real, bad]))
        by_nodes = await gateway.query(NODES, ids=[real, bad])
        assert by_entities["data"] is None
        assert error_of(by_entities)[0] == "BAD_USER_INPUT"
        assert error_of(by_entities) == error_of(by_nodes)
    assert sum(sum(c.values()) for c in calls(gateway).values()) == 0


async def test_an_id_of_this_apis_shape_that_names_nothing_is_null(gateway: Gateway) -> None:
    ghost = base64.b64encode(b"Session:stateset|no-such-session|||").decode()
    (real,) = [node["id"] for node in await listed(gateway, Provider.STATESET)][:1]
    body = await gateway.query(ENTITIES, r=refs([ghost, real]))
    by_nodes = await gateway.query(NODES, ids=[ghost, real])
    assert "errors" not in body, body["errors"]
    assert body["data"]["_entities"][0] is None and body["data"]["_entities"][1]["id"] == real
    assert body["data"]["_entities"] == by_nodes["data"]["nodes"]


@pytest.mark.parametrize(
    ("representation", "message"),
    [
        ("Session", "`representations[1]`: an object with `__typename` and `id`"),
        ({"id": "x"}, "`representations[1]`: `__typename` is Session or Agent"),
        ({"__typename": "Invoice", "id": "x"}, "`representations[1]`: `__typename` is Session"),
        ({"__typename": "Session"}, "`representations[1]`: `id` is a string"),
        ({"__typename": "Session", "id": 7}, "`representations[1]`: `id` is a string"),
    ],
)
async def test_a_malformed_representation_is_refused_before_any_call(
    gateway: Gateway, representation: Any, message: str
) -> None:
    (real,) = [node["id"] for node in await listed(gateway, Provider.VONAGE)][:1]
    gateway.clear_logs()
    body = await gateway.query(ENTITIES, r=[*refs([real]), representation])
    code, said = error_of(body)
    assert code == "BAD_USER_INPUT" and said.startswith(message)
    assert body["extensions"]["cost"] == {"estimated": 0, "actual": 0}
    assert gateway.calls() == dict.fromkeys(Provider, 0)


async def test_a_reference_under_the_other_types_name_is_refused(gateway: Gateway) -> None:
    nodes = await listed(gateway, Provider.STATESET)
    session_id, agent_id = nodes[0]["id"], nodes[0]["agent"]["id"]
    gateway.clear_logs()
    as_agent = await gateway.query(ENTITIES, r=refs([session_id], "Agent"))
    as_session = await gateway.query(ENTITIES, r=refs([agent_id], "Session"))
    invoice = await gateway.query(ENTITIES, r=refs([base64.b64encode(b"Invoice:1").decode()]))
    for body, typename in ((as_agent, "Agent"), (as_session, "Session"), (invoice, "Session")):
        message = f"`representations[0]`: that id is not one of type {typename}"
        assert error_of(body) == ("BAD_USER_INPUT", message)
    assert gateway.calls() == dict.fromkeys(Provider, 0)


async def test_at_most_100_references_at_once(gateway: Gateway) -> None:
    ids = [node["id"] for node in await listed(gateway)]
    gateway.clear_logs()
    body = await gateway.query(ENTITIES, r=refs((ids * 11)[:101]))
    assert error_of(body) == ("BAD_USER_INPUT", "`representations`: at most 100 at once")
    assert body["extensions"]["cost"]["estimated"] == 0
    assert gateway.calls() == dict.fromkeys(Provider, 0)
    assert "errors" not in await gateway.query(ENTITIES, r=refs((ids * 10)[:100]))


async def test_a_vendor_failing_nulls_only_its_own_references(gateway: Gateway) -> None:
    nodes = await listed(gateway)
    ids = [node["id"] for node in nodes]
    faults = gateway.simulators[Provider.SAMSARA].faults
    faults.error_status = 503
    by_entities = await gateway.query(ENTITIES, r=refs(ids))
    by_nodes = await gateway.query(NODES, ids=ids)
    entities = by_entities["data"]["_entities"]
    samsara = [node["provider"] == "SAMSARA" for node in nodes]
    assert any(samsara) and not all(samsara)
    assert [entity is None for entity in entities] == samsara
    assert [e["extensions"]["provider"] for e in by_entities["errors"]] == ["SAMSARA"]
    assert entities == by_nodes["data"]["nodes"]


# --- price, tenants, roles, executors --------------------------------------------------------


async def test_references_are_priced_as_nodes_and_refused_over_the_limit() -> None:
    async with running_gateway() as gateway:
        ids = [node["id"] for node in await listed(gateway)]
        priced = (await gateway.query(ENTITIES, r=refs(ids)))["extensions"]["cost"]
        as_nodes = (await gateway.query(NODES, ids=ids))["extensions"]["cost"]
    assert priced["estimated"] == as_nodes["estimated"] > 0
    limit = str(priced["estimated"] - 1)
    async with running_gateway(environ={"SESSIONGRAPH_MAX_COST": limit}) as low:
        refused = await low.query(ENTITIES, r=refs(ids))
        assert error_of(refused)[0] == "QUERY_TOO_COSTLY"
        assert refused["errors"][0]["extensions"]["cost"] == priced["estimated"]
        assert low.calls() == dict.fromkeys(Provider, 0)


async def test_another_tenants_reference_is_refused(tmp_path: Path) -> None:
    query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Session { id } } }"
    async with two_tenants(tmp_path) as tenants:
        page = await tenants.ask("acme", "{ sessions(first: 3) { nodes { id } } }")
        acme_ids = [node["id"] for node in page["data"]["sessions"]["nodes"]]
        own = await tenants.ask("acme", query, r=refs(acme_ids))
        before = tenants.calls("default")
        foreign = await tenants.ask("default", query, r=refs(acme_ids))
        assert [e["id"] for e in own["data"]["_entities"]] == acme_ids
        assert error_of(foreign)[0] == "BAD_USER_INPUT"
        assert tenants.calls("default") == before


@pytest.mark.usefixtures("numbers_everywhere")
async def test_a_viewer_reads_references_redacted_as_in_the_list() -> None:
    fields = "id caller callee transcript { text } recording { url }"
    page = "{ sessions(first: 3, filter: {providers: [VONAGE, STATESET]}) { nodes { FIELDS } } }"
    query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Session { FIELDS } } }"
    async with redaction_gateway() as running:
        listed_body = await running.ask("default", Role.VIEWER, page.replace("FIELDS", fields))
        nodes = listed_body["data"]["sessions"]["nodes"]
        assert any(node["caller"] and re.fullmatch(PSEUDONYM, node["caller"]) for node in nodes)
        body = await running.ask(
            "default",
            Role.VIEWER,
            query.replace("FIELDS", fields),
            r=refs([node["id"] for node in nodes]),
        )
        assert body["data"]["_entities"] == nodes
        assert not LOCAL_PART.search(str(body))


async def test_the_compiled_and_the_standard_executor_answer_references_alike() -> None:
    async with gateway_pair() as pair:
        page = await _same(pair, "{ sessions(first: 12) { nodes { id agent { id } } } }")
        nodes = page["data"]["sessions"]["nodes"]
        representations = refs([n["id"] for n in nodes]) + refs(
            list(dict.fromkeys(n["agent"]["id"] for n in nodes if n["agent"])), "Agent"
        )
        await _same(pair, ENTITIES, r=representations)
