// The page's one query: it spreads SessionList's fragment, passing the filter down.
import { graphql, useLazyLoadQuery } from "react-relay";
import type { SessionFilter, SessionsPageQuery } from "./__generated__/SessionsPageQuery.graphql";
import SessionList from "./SessionList";

export default function SessionsPage(props: { filter: SessionFilter }) {
  const query = useLazyLoadQuery<SessionsPageQuery>(
    graphql`
      query SessionsPageQuery($filter: SessionFilter) {
        ...SessionList_query @arguments(filter: $filter)
      }
    `,
    { filter: props.filter },
  );
  return <SessionList query={query} />;
}
