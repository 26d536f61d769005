// The peer's supergraph: GraphQL Mesh composes the StateSet Voice OpenAPI description
// (stateset-openapi.json) into one subgraph. bench/peer.py runs `mesh-compose` with this file and
// serves the result with `hive-gateway supergraph`. The endpoint and the key are NOT baked into
// the supergraph: the gateway reads them from its environment at run time, as a user would.
import { defineConfig } from '@graphql-mesh/compose-cli';
import { loadOpenAPISubgraph } from '@omnigraph/openapi';

export const composeConfig = defineConfig({
  subgraphs: [
    {
      sourceHandler: loadOpenAPISubgraph('StateSet', {
        source: './stateset-openapi.json',
        endpoint: '{env.STATESET_VOICE_BASE_URL}',
        operationHeaders: {
          Authorization: 'Bearer {env.STATESET_VOICE_API_KEY}',
        },
      }),
    },
  ],
});
