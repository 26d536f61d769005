// One agent and its sessions: `Agent.sessions` is the same connection as `Query.sessions`,
// scoped to the agent. Agent implements Node, so Relay refetches the next page of this
// fragment through `node(id:)` (the generated AgentPageSessionsPaginationQuery).
import { graphql, useLazyLoadQuery, usePaginationFragment } from "react-relay";
import type { AgentPage_agent$key } from "./__generated__/AgentPage_agent.graphql";
import type { AgentPageQuery } from "./__generated__/AgentPageQuery.graphql";
import type { AgentPageSessionsPaginationQuery } from "./__generated__/AgentPageSessionsPaginationQuery.graphql";
import SessionRow from "./SessionRow";

function AgentSessions(props: { agent: AgentPage_agent$key }) {
  const { data, loadNext, hasNext } = usePaginationFragment<
    AgentPageSessionsPaginationQuery,
    AgentPage_agent$key
  >(
    graphql`
      fragment AgentPage_agent on Agent
      @argumentDefinitions(
        count: { type: "Int", defaultValue: 10 }
        cursor: { type: "String" }
      )
      @refetchable(queryName: "AgentPageSessionsPaginationQuery") {
        name
        provider
        sessions(first: $count, after: $cursor) @connection(key: "AgentPage_sessions") {
          edges {
            node {
              id
              ...SessionRow_session
            }
          }
        }
      }
    `,
    props.agent,
  );
  return (
    <section>
      <h1>
        {data.name ?? "Unnamed agent"} ({data.provider})
      </h1>
      <table>
        <tbody>
          {data.sessions.edges.map((edge) => (
            <SessionRow key={edge.node.id} session={edge.node} />
          ))}
        </tbody>
      </table>
      {hasNext && <button onClick={() => loadNext(10)}>More</button>}
    </section>
  );
}

export default function AgentPage(props: { agentId: string }) {
  const data = useLazyLoadQuery<AgentPageQuery>(
    graphql`
      query AgentPageQuery($id: ID!) {
        agent(id: $id) {
          ...AgentPage_agent
        }
      }
    `,
    { id: props.agentId },
  );
  return data.agent ? <AgentSessions agent={data.agent} /> : <p>No such agent.</p>;
}
