// Builds graph/static/graphiql/ from the npm packages pinned in package.json (the same files
// Strawberry's GraphiQL page loads from unpkg, which are these packages' published files):
//
//   * each file minified by esbuild (graphiql.min.js is a 3.5 MB webpack development-style
//     bundle despite its name; the others lose little, and one path for all keeps it simple);
//   * named by its content (<name>.<first 12 hex of sha256>.<ext>), so the server can let
//     browsers cache it for a year ("immutable"): a new build is a new URL;
//   * precompressed next to it as .gz (zlib, level 9) and .br (brotli, quality 11): the server
//     picks one by Accept-Encoding and never compresses at request time;
//   * listed in manifest.json: logical name -> file name and SRI hash (sha384), which the
//     server puts in the page's src/href and integrity attributes.
//
// The output is committed, so serving needs no Node.js. To rebuild (after changing a pin):
//
//   cd tools/graphiql-assets && npm ci --no-audit --no-fund && npm run build
//
// then commit graph/static/graphiql/. Old hashed files are removed; the LICENSE.* files,
// index.html and default.graphql there are hand-kept and left alone.

import { createHash } from "node:crypto";
import { readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { transform } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "node_modules");
const out = join(here, "..", "..", "graph", "static", "graphiql");

// Logical name (what index.html refers to) -> file in node_modules.
const ASSETS = {
  "react.js": "react/umd/react.production.min.js",
  "react-dom.js": "react-dom/umd/react-dom.production.min.js",
  "js-cookie.js": "js-cookie/dist/js.cookie.min.js",
  "graphiql.js": "graphiql/graphiql.min.js",
  "graphiql.css": "graphiql/graphiql.min.css",
  "plugin-explorer.js": "@graphiql/plugin-explorer/dist/index.umd.js",
  "plugin-explorer.css": "@graphiql/plugin-explorer/dist/style.css",
};

// A built file: <name>.<12 hex>.<js|css>, and its .gz and .br.
const BUILT = /^[a-z-]+\.[0-9a-f]{12}\.(js|css)(\.gz|\.br)?$/;

async function minify(source, loader) {
  // No `format`: the files are classic scripts (UMD/webpack bootstraps that assign globals
  // from the top-level `this`); esbuild then keeps top-level names and `this` as they are.
  // Legal comments (/*! */, @license) stay in place.
  const result = await transform(source, { loader, minify: true, legalComments: "inline" });
  for (const warning of result.warnings) console.warn(`${loader}: ${warning.text}`);
  return Buffer.from(result.code, "utf8");
}

function compressions(bytes) {
  return {
    gz: gzipSync(bytes, { level: 9 }),
    br: brotliCompressSync(bytes, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
        [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      },
    }),
  };
}

async function main() {
  for (const name of readdirSync(out)) {
    if (BUILT.test(name)) unlinkSync(join(out, name));
  }
  const manifest = {};
  for (const [logical, source] of Object.entries(ASSETS)) {
    const original = readFileSync(join(modules, source), "utf8");
    const extension = logical.endsWith(".css") ? "css" : "js";
    const minified = await minify(original, extension);
    const hash = createHash("sha256").update(minified).digest("hex").slice(0, 12);
    const file = `${logical.slice(0, -extension.length - 1)}.${hash}.${extension}`;
    writeFileSync(join(out, file), minified);
    const { gz, br } = compressions(minified);
    writeFileSync(join(out, `${file}.gz`), gz);
    writeFileSync(join(out, `${file}.br`), br);
    manifest[logical] = {
      file,
      integrity: `sha384-${createHash("sha384").update(minified).digest("base64")}`,
      source,
    };
    const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
    console.log(
      `${file}: ${kb(Buffer.byteLength(original))} -> ${kb(minified.length)}` +
        ` (gzip ${kb(gz.length)}, brotli ${kb(br.length)})`,
    );
  }
  writeFileSync(join(out, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
}

await main();
