// Hive Gateway's configuration for tests/federation: the client's Authorization header goes on
// to every subgraph, so sessiongraph sees the client's API key (its tenant, role and limits).
import { defineConfig } from "@graphql-hive/gateway";

export const gatewayConfig = defineConfig({
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({
      authorization: request.headers.get("authorization") ?? undefined,
    }),
  },
});
