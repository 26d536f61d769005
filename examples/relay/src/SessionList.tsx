// Every vendor's sessions, newest first, one page at a time: `Query.sessions` as a Relay
// connection. `usePaginationFragment` loads the next page through the generated
// SessionListPaginationQuery (the fragment is @refetchable on Query) and Relay appends its
// edges to the connection stored under the key "SessionList_sessions" (one per filter and
// order, since those are the connection's filter arguments).
import { graphql, usePaginationFragment } from "react-relay";
import type { SessionList_query$key } from "./__generated__/SessionList_query.graphql";
import type { SessionListPaginationQuery } from "./__generated__/SessionListPaginationQuery.graphql";
import SessionRow from "./SessionRow";

export default function SessionList(props: { query: SessionList_query$key }) {
  const { data, loadNext, hasNext, isLoadingNext } = usePaginationFragment<
    SessionListPaginationQuery,
    SessionList_query$key
  >(
    graphql`
      fragment SessionList_query on Query
      @argumentDefinitions(
        count: { type: "Int", defaultValue: 20 }
        cursor: { type: "String" }
        filter: { type: "SessionFilter" }
        orderBy: { type: "SessionOrder", defaultValue: NEWEST_FIRST }
      )
      @refetchable(queryName: "SessionListPaginationQuery") {
        sessions(first: $count, after: $cursor, filter: $filter, orderBy: $orderBy)
          @connection(key: "SessionList_sessions") {
          totalCount
          edges {
            node {
              id
              ...SessionRow_session
            }
          }
        }
      }
    `,
    props.query,
  );
  return (
    <>
      <p>{data.sessions.totalCount ?? "?"} sessions</p>
      <table>
        <tbody>
          {data.sessions.edges.map((edge) => (
            <SessionRow key={edge.node.id} session={edge.node} />
          ))}
        </tbody>
      </table>
      {hasNext && (
        <button disabled={isLoadingNext} onClick={() => loadNext(20)}>
          More
        </button>
      )}
    </>
  );
}
