"""Mutations: `deleteSession`. A mutation answers a payload whose `errors` say why it did not
do what was asked (errors as data, each with the `code` a GraphQL error would carry in
`extensions.code`); GraphQL's own `errors` stay for what is not the caller's business to
handle (a bug, the request's deadline). Root mutation fields run one after another, as GraphQL
requires (graphql-core's serial execution)."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.types import Info

from graph.enums import Provider
from providers.errors import SessionGraphError, UserInputError
from providers.records import SessionRef
from resolvers.context import RequestContext
from resolvers.deletion import delete_session
from resolvers.nodes import parse_session_node_id

__all__ = ["DeleteSessionPayload", "Mutation", "MutationError"]

Ctx = Info[RequestContext, None]


@strawberry.type(
    description="Why a mutation did not do what it was asked. `code` is what a GraphQL error "
    "would carry in `extensions.code`: FORBIDDEN (the key's role may not), BAD_USER_INPUT (not "
    "a session id of this tenant), NOT_FOUND (the vendor has no such session), NOT_SUPPORTED "
    "(the vendor's API cannot delete), PROVIDER_NOT_CONFIGURED, or a vendor failure "
    "(UPSTREAM_*)."
)
class MutationError:
    code: str
    message: str
    provider: Provider | None = strawberry.field(
        description="The vendor, when the error is about one."
    )
    retryable: bool = strawberry.field(description="Whether asking again later may work.")
    retry_after: float | None = strawberry.field(
        description="Seconds to wait before asking again, when the vendor said."
    )

    @classmethod
    def of(cls, error: SessionGraphError) -> MutationError:
        return cls(
            code=error.code,
            message=error.message,
            provider=error.provider,
            retryable=error.retryable,
            retry_after=error.retry_after,
        )


@strawberry.type(description="What `deleteSession` did.")
class DeleteSessionPayload:
    deleted_id: strawberry.ID | None = strawberry.field(
        description="The id of the session deleted; null when it was not (see `errors`)."
    )
    errors: list[MutationError] = strawberry.field(
        description="Why the session was not deleted; empty when it was."
    )


def _session_ref(global_id: str, tag: str) -> SessionRef:
    try:
        parsed = relay.GlobalID.from_id(global_id)
    except Exception:
        raise UserInputError(f"{global_id[:60]!r} is not an id of this API") from None
    if parsed.type_name != "Session":
        raise UserInputError("that id is not a Session id")
    return parse_session_node_id(parsed.node_id, tag)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Deletes a session at its vendor (Vectara and Vonage can delete; Samsara "
        "and StateSet answer NOT_SUPPORTED), then from this server's caches and index, so no "
        "later query shows it. Admin keys only. Every attempt is audited (`auditRecords`)."
    )
    async def delete_session(self, info: Ctx, id: strawberry.ID) -> DeleteSessionPayload:
        context = info.context
        tag = context.audience.tag
        done = await delete_session(
            context.sources, context.principal, str(id), lambda: _session_ref(str(id), tag)
        )
        return DeleteSessionPayload(
            deleted_id=strawberry.ID(done.deleted_id) if done.deleted_id is not None else None,
            errors=[MutationError.of(done.error)] if done.error is not None else [],
        )
