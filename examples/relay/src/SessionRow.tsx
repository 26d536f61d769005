// One row of a sessions list: the fields a list shows, whichever list it is in
// (all sessions, or one agent's).
import { graphql, useFragment } from "react-relay";
import type { SessionRow_session$key } from "./__generated__/SessionRow_session.graphql";

export default function SessionRow(props: { session: SessionRow_session$key }) {
  const session = useFragment(
    graphql`
      fragment SessionRow_session on Session {
        id
        provider
        status
        startedAt
        durationMs
        agent {
          name
        }
        transcript {
          turns {
            speaker
            text
          }
        }
        toolCalls {
          name
        }
      }
    `,
    props.session,
  );
  const turns = session.transcript?.turns.length ?? 0;
  const tools = (session.toolCalls ?? []).map((call) => call.name).join(", ");
  return (
    <tr>
      <td>{session.startedAt}</td>
      <td>{session.provider}</td>
      <td>{session.agent?.name ?? "—"}</td>
      <td>{session.status}</td>
      <td>{session.durationMs ?? "active"}</td>
      <td>{turns} turns</td>
      <td>{tools}</td>
    </tr>
  );
}
