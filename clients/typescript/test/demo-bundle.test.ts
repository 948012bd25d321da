// The browser demo loads a committed bundle of this package
// (delivery/src/demo/missive-client.js, compiled into the delivery service):
// it must be what the current sources give.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

test("the browser demo's bundle of the package is up to date", async () => {
  // The build script (plain JavaScript), from build/test/ where this file runs.
  const { bundle, BUNDLE } = await import(new URL("../../scripts/bundle-demo.mjs", import.meta.url).href);
  const want: string = await bundle();
  assert.ok(
    readFileSync(BUNDLE, "utf8") === want,
    "delivery/src/demo/missive-client.js is stale: run `npm run build && npm run bundle:demo` in clients/typescript",
  );
});
