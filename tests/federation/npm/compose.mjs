// Composes subgraphs into a Federation 2 supergraph with The Guild's composition library.
// Usage: node compose.mjs <supergraph output file> < subgraphs.json
// subgraphs.json: [{"name": "...", "url": "http://.../graphql", "sdl": "<its _service { sdl }>"}]
// Exits 1 with every composition error on stderr, writing nothing.
import { readFileSync, writeFileSync } from "node:fs";
import { parse } from "graphql";
import { composeServices } from "@theguild/federation-composition";

const [output] = process.argv.slice(2);
if (!output) {
  console.error("usage: node compose.mjs <supergraph output file> < subgraphs.json");
  process.exit(2);
}
const subgraphs = JSON.parse(readFileSync(0, "utf8"));
const result = composeServices(
  subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })),
);
if (result.errors) {
  for (const error of result.errors) {
    console.error(`${error.extensions?.code ?? "ERROR"}: ${error.message}`);
  }
  process.exit(1);
}
writeFileSync(output, result.supergraphSdl);
