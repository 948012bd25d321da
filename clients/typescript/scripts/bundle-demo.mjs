// Bundles the built package (dist/) into the one ES module the browser demo
// loads: delivery/src/demo/missive-client.js, committed so the Rust build
// needs no Node. `--check` fails if the committed file is not what the
// current sources give (test/demo-bundle.test.ts runs the same check).
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
export const BUNDLE = here("../../../delivery/src/demo/missive-client.js");
const HEADER =
  "// Generated from clients/typescript by `npm run bundle:demo`: do not edit.\n" +
  "// The browser demo's copy of the TypeScript client (served at /demo/missive-client.js).\n";

/** The bundle the current dist/ gives. */
export async function bundle() {
  const out = await build({
    entryPoints: [here("../dist/index.js")],
    bundle: true,
    format: "esm",
    target: "es2022",
    write: false,
    legalComments: "none",
    banner: { js: HEADER },
  });
  return out.outputFiles[0].text;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = await bundle();
  if (process.argv.includes("--check")) {
    if (readFileSync(BUNDLE, "utf8") !== text) {
      console.error(`${BUNDLE} is stale: run \`npm run build && npm run bundle:demo\` in clients/typescript`);
      process.exit(1);
    }
  } else {
    writeFileSync(BUNDLE, text);
    console.log(`wrote ${BUNDLE}`);
  }
}
