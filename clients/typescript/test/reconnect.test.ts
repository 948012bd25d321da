// A cut connection: the client reconnects with backoff, resumes from its
// cursor, raises every message once, and its sends, retried with the same
// MsgRandom/MsgSeq, are stored once.

import assert from "node:assert/strict";
import { test } from "node:test";

import { client, CuttableProxy, eventually, roaming, sendRest, server, uid } from "./support.js";
import { elements } from "@missive/client";

test("a send whose reply was lost is sent again after the reconnect, with the same MsgRandom/MsgSeq, and stored once", async () => {
  const [alice, bob] = [uid("alice"), uid("bob")];
  // The server gets the send (the client's first request, after login); its reply never comes back.
  const proxy = await CuttableProxy.start(server.ws, { loseRepliesAfter: 3 });
  const b = client(bob, "phone", { url: proxy.url });
  try {
    await b.client.login();
    const sent = await b.client.sendMessage(alice, [elements.text("once")]);
    const states = b.events.flatMap((e) => (e.kind === "state" ? [e.s.state] : []));
    assert.deepEqual(states, ["connecting", "connected", "disconnected", "connecting", "connected"], "cut once, after the login");
    await eventually("the message in history", async () => (await roaming(bob, alice)).length >= 1);
    const history = await roaming(bob, alice);
    assert.deepEqual(history.map((m) => m.MsgKey), [sent.msg_key], "stored once, under the key the client got");
    assert.equal(sent.seq, 1);
    assert.equal(b.events.filter((e) => e.kind === "new").length, 1);
  } finally {
    await b.client.logout();
    await proxy.close();
  }
});

test("a reconnect loses nothing and doubles nothing", async () => {
  const [alice, bob] = [uid("alice"), uid("bob")];
  const proxy = await CuttableProxy.start(server.ws);
  const b = client(bob, "phone", { url: proxy.url });
  await b.client.login();
  await b.waitFor("refresh", (e) => e.kind === "refresh");

  // bob sends through the flaky link while alice's messages pour in.
  const bobSends = (async () => {
    const keys: string[] = [];
    for (let i = 0; i < 10; i++) keys.push((await b.client.sendMessage(alice, [elements.text(`bob ${i}`)])).msg_key);
    return keys;
  })();
  const N = 40;
  for (let i = 0; i < N; i++) {
    await sendRest(alice, bob, `alice ${i}`);
    if (i % 10 === 5) proxy.cut();
  }
  const bobKeys = await bobSends;

  const seen = new Map<string, number>();
  await eventually("every message raised", () => {
    seen.clear();
    for (const e of b.events) if (e.kind === "new") seen.set(e.m.msg_key, (seen.get(e.m.msg_key) ?? 0) + 1);
    const fromAlice = b.events.filter((e) => e.kind === "new" && e.m.from === alice).length;
    return fromAlice >= N && bobKeys.every((k) => seen.has(k));
  });
  const drops = b.events.filter((e) => e.kind === "state" && e.s.state === "disconnected").length;
  assert.ok(drops >= 1, "the connection was cut at least once");
  assert.ok(b.refreshes() >= 2, "each reconnect synced again");
  assert.deepEqual([...seen.values()].filter((n) => n !== 1), [], "a message was raised twice");
  assert.equal(seen.size, N + 10);
  // The server holds each of bob's sends once, whatever the retries.
  await eventually("the whole conversation in history", async () => (await roaming(bob, alice)).length >= N + 10);
  const history = await roaming(bob, alice);
  assert.equal(history.length, N + 10);
  assert.equal(history.filter((m) => m.From_Account === bob).length, 10);
  // The cache has the whole conversation, no gap.
  const page = await b.client.getMessages(alice, 100);
  assert.equal(page.length, N + 10);
  assert.equal(page[0]?.seq, N + 10);
  await b.client.logout();
  await proxy.close();
});
