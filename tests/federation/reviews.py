"""A second subgraph for tests/federation: "reviews", which extends sessiongraph's `Session` by
its key and knows nothing else of it.

- `Session.reviewNote`: a note computed from the id alone (`review_note`), so the gateway can
  only answer it by sending this subgraph the ids sessiongraph gave it (`_entities`).
- `Query.reviewedSessions`: references (`{id}`) to the sessions named in `REVIEWED_ENV`, so the
  gateway can only answer their other fields by asking sessiongraph's `_entities`.

`python -m tests.federation.reviews --port N` serves it on 127.0.0.1 (uvicorn).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os

import strawberry
import uvicorn
from strawberry.asgi import GraphQL

__all__ = ["REVIEWED_ENV", "review_note", "schema"]

REVIEWED_ENV = "REVIEWS_SESSION_IDS"  # a JSON list of Session ids


def review_note(session_id: str) -> str:
    return "reviewed " + hashlib.sha256(session_id.encode()).hexdigest()[:12]


@strawberry.federation.type(keys=["id"])
class Session:
    id: strawberry.ID

    @strawberry.field
    def review_note(self) -> str:
        return review_note(self.id)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Session:
        return cls(id=id)


@strawberry.type
class Query:
    @strawberry.field
    def reviewed_sessions(self) -> list[Session]:
        ids = json.loads(os.environ.get(REVIEWED_ENV, "[]"))
        return [Session(id=strawberry.ID(session_id)) for session_id in ids]


schema = strawberry.federation.Schema(query=Query, federation_version="2.0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(GraphQL(schema), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
