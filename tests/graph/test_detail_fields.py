"""Detail fields read through the loaders: `Transcript.text` and `FlowStep`, against the
oracle's records."""

from __future__ import annotations

from datetime import timedelta

from providers.query import SessionQuery
from providers.records import Provider, SessionRecord
from tests.conftest import ANCHOR, Gateway
from tests.oracles import expected_records
from tests.oracles.select import select

AFTER, BEFORE = ANCHOR - timedelta(days=100), ANCHOR
QUERY = """query($f: SessionFilter) { sessions(first: 60, filter: $f) { nodes {
  provider providerSessionId
  transcript { text turns { speaker text } }
  flowSteps { nodeId type requestId executionTimeMs responseCode url tags }
} } }"""


def newest(gateway: Gateway, providers: set[Provider], count: int) -> list[SessionRecord]:
    records = [r for p in providers for r in expected_records(gateway.simulators[p])]
    return select(records, SessionQuery(started_after=AFTER, started_before=BEFORE))[:count]


def filter_(*providers: Provider) -> dict[str, object]:
    return {
        "providers": [p.name for p in providers],
        "startedAfter": AFTER.isoformat(),
        "startedBefore": BEFORE.isoformat(),
    }


async def test_transcript_text_is_one_speaker_line_per_turn(gateway: Gateway) -> None:
    body = await gateway.query(QUERY, f=filter_(*Provider))
    nodes = body["data"]["sessions"]["nodes"]
    truth = newest(gateway, set(Provider), 60)
    assert [n["providerSessionId"] for n in nodes] == [r.id for r in truth]
    spoken = 0
    for node, record in zip(nodes, truth, strict=True):
        turns = record.details.transcript if record.details else ()
        lines = [f"{turn.speaker.name}: {turn.text}" for turn in turns]
        assert node["transcript"]["text"] == "\n".join(lines), node["providerSessionId"]
        spoken += bool(lines)
    assert spoken > 30  # the page is not made of empty transcripts


async def test_flow_steps_are_vonages_flow_path(gateway: Gateway) -> None:
    body = await gateway.query(QUERY, f=filter_(Provider.VONAGE))
    nodes = body["data"]["sessions"]["nodes"]
    truth = newest(gateway, {Provider.VONAGE}, 60)
    assert [n["providerSessionId"] for n in nodes] == [r.id for r in truth]
    for node, record in zip(nodes, truth, strict=True):
        assert record.details is not None
        assert node["flowSteps"] == [
            {
                "nodeId": step.node_id,
                "type": step.type,
                "requestId": step.request_id,
                "executionTimeMs": step.execution_time_ms,
                "responseCode": step.response_code,
                "url": step.url,
                "tags": list(step.tags),
            }
            for step in record.details.flow_steps
        ]
    assert sum(len(n["flowSteps"]) for n in nodes) > 60
    assert any(s["url"] for n in nodes for s in n["flowSteps"])  # webhook steps carry a URL


async def test_vendors_without_flow_paths_have_no_flow_steps(gateway: Gateway) -> None:
    body = await gateway.query(
        QUERY, f=filter_(Provider.SAMSARA, Provider.STATESET, Provider.VECTARA)
    )
    nodes = body["data"]["sessions"]["nodes"]
    assert len(nodes) == 60
    assert all(node["flowSteps"] == [] for node in nodes)
