// getMessages: served from the local cache, completed from the roaming store
// where the cache has a gap in seq; offline, the cache alone; a cache is one user's.

import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";

import { CacheOwnerError, MemoryStore } from "@missive/client";
import { client, eventually, roaming, sendRest, textOf, uid } from "./support.js";

/** A ws:// URL where nothing listens. */
async function nowhere(): Promise<string> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const addr = srv.address();
  await new Promise((r) => srv.close(r));
  return `ws://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 1}/v1/ws`;
}

test("getMessages fills gaps from the roaming store and serves the cache offline", async () => {
  const [alice, bob] = [uid("alice"), uid("bob")];
  // One store across the "app restarts" below, as IndexedDB would be.
  const store = new MemoryStore();

  let b = client(bob, "phone", { store });
  await b.client.login();
  await b.waitFor("refresh", (e) => e.kind === "refresh");
  for (const i of [1, 2, 3]) {
    await sendRest(alice, bob, `m${i}`);
    await b.waitFor(`m${i}`, (e) => e.kind === "new" && textOf(e.m) === `m${i}`);
  }
  await b.client.logout();
  // Past their one-second MsgLifeTime these no longer wait offline (they stay
  // in history): bob's copy gets a hole 4..=8.
  for (const i of [4, 5, 6, 7, 8]) await sendRest(alice, bob, `m${i}`, { MsgLifeTime: 1 });
  await sendRest(alice, bob, "m9");
  await eventually("m1..m9 in history", async () => (await roaming(bob, alice)).length === 9);
  await new Promise((r) => setTimeout(r, 1500));

  b = client(bob, "phone", { store });
  await b.client.login();
  await b.waitFor("refresh", (e) => e.kind === "refresh");
  assert.deepEqual(b.texts(), ["m9"], "only what this cache has not seen is new");
  assert.equal(b.client.roamingFetched, 0);
  const page = await b.client.getMessages(alice, 20);
  assert.deepEqual(page.map((m) => m.seq), [9, 8, 7, 6, 5, 4, 3, 2, 1]);
  assert.equal(textOf(page[3]!), "m6");
  assert.equal(page[3]!.peer, alice);
  assert.equal(b.client.roamingFetched, 5, "only the hole was pulled");
  // Complete now: served from the cache alone.
  const older = await b.client.getMessages(alice, 4, 6);
  assert.deepEqual(older.map((m) => m.seq), [5, 4, 3, 2]);
  assert.equal(b.client.roamingFetched, 5);
  // Pulled history is history: it raised nothing.
  assert.deepEqual(b.texts(), ["m9"]);
  await b.client.logout();

  // A restarted app with no server: history and contacts from the cache.
  b = client(bob, "phone", { store, url: await nowhere() });
  await b.client.login();
  assert.equal(b.client.isConnected, false);
  assert.ok(b.events.some((e) => e.kind === "state" && e.s.state === "disconnected"));
  assert.equal((await b.client.getMessages(alice, 20)).length, 9);
  assert.equal((await b.client.recentContacts())[0]?.peer, alice);
  await b.client.logout();

  // The store is bob's: another user may not open it.
  const carol = client(uid("carol"), "phone", { store });
  await assert.rejects(carol.client.login(), (e: unknown) => e instanceof CacheOwnerError && e.cacheUser === bob);
});
