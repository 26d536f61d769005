// One session, loaded by its global id through `node(id:)`. The fragment is @refetchable:
// Session implements Node, so Relay generates SessionDetailRefetchQuery, which asks
// `node(id: $id)` again for the same fields (the "Reload" button: e.g. an ACTIVE session
// that has since ended).
import { graphql, useLazyLoadQuery, useRefetchableFragment } from "react-relay";
import type { SessionDetail_session$key } from "./__generated__/SessionDetail_session.graphql";
import type { SessionDetailQuery } from "./__generated__/SessionDetailQuery.graphql";
import type { SessionDetailRefetchQuery } from "./__generated__/SessionDetailRefetchQuery.graphql";

function SessionView(props: { session: SessionDetail_session$key }) {
  const [session, refetch] = useRefetchableFragment<
    SessionDetailRefetchQuery,
    SessionDetail_session$key
  >(
    graphql`
      fragment SessionDetail_session on Session
      @refetchable(queryName: "SessionDetailRefetchQuery") {
        id
        provider
        providerSessionId
        status
        startedAt
        endedAt
        durationMs
        summary
        agent {
          name
        }
        transcript {
          turns {
            speaker
            text
            offsetMs
          }
        }
        toolCalls {
          name
          status
          arguments
        }
      }
    `,
    props.session,
  );
  return (
    <article>
      <h1>
        {session.provider} {session.providerSessionId} ({session.status})
      </h1>
      <button onClick={() => refetch({}, { fetchPolicy: "network-only" })}>Reload</button>
      <p>{session.summary}</p>
      <ol>
        {(session.transcript?.turns ?? []).map((turn, i) => (
          <li key={i}>
            {turn.speaker}: {turn.text}
          </li>
        ))}
      </ol>
      <ul>
        {(session.toolCalls ?? []).map((call, i) => (
          <li key={i}>
            {call.name}: {call.status}
          </li>
        ))}
      </ul>
    </article>
  );
}

// `node` is any Node: relay-compiler 21 wants the Session-only spread under an @alias, which
// the generated type makes a nullable `session` property (null when the id is not a Session).
export default function SessionDetail(props: { id: string }) {
  const data = useLazyLoadQuery<SessionDetailQuery>(
    graphql`
      query SessionDetailQuery($id: ID!) {
        node(id: $id) {
          ... on Session @alias(as: "session") {
            ...SessionDetail_session
          }
        }
      }
    `,
    { id: props.id },
  );
  const session = data.node?.session;
  return session ? <SessionView session={session} /> : <p>No such session.</p>;
}
