// Issue #19, item 8: pinning and deleting conversations, read receipts on
// sent messages, and typing, through the TypeScript client.

import assert from "node:assert/strict";
import { test } from "node:test";

import { elements } from "@missive/client";
import { client, uid } from "./support.js";

test("pins, deletes, read receipts on sent messages and typing", async () => {
  const [alice, bob, cleo] = ["alice", "bob", "cleo"].map(uid) as [string, string, string];
  const a = client(alice);
  const b = client(bob);
  const c = client(cleo);
  for (const r of [a, b, c]) {
    await r.client.login();
    await r.waitFor("refresh", (e) => e.kind === "refresh");
  }
  await c.client.sendMessage(bob, [elements.text("from cleo")]);

  // alice asks for a read receipt; bob sees that it asked and answers.
  const sent = await a.client.send({ to: bob, body: [elements.text("read me")], needReadReceipt: true });
  const at = await b.waitFor("alice's message", (e) => e.kind === "new" && e.m.msg_key === sent.msg_key);
  const got = b.events[at];
  assert.ok(got?.kind === "new" && got.m.need_read_receipt && !got.m.peer_read);
  await b.client.sendReadReceipts(alice, [sent.msg_key]);
  const read = a.events[await a.waitFor("the receipt", (e) => e.kind === "messageRead")];
  assert.deepEqual(read, { kind: "messageRead", peer: bob, msgKey: sent.msg_key, seq: sent.seq });
  const [cached] = await a.client.getMessages(bob, 1);
  assert.equal(cached?.peer_read, true, "the cached copy shows the receipt");

  // Typing reaches the peer; a repeat within the interval is absorbed.
  await b.client.typing(alice);
  await b.client.typing(alice);
  await a.waitFor("bob typing", (e) => e.kind === "typing" && e.from === bob);

  // bob pins cleo's (older) conversation: it comes first.
  await b.client.pinConversation(cleo, true);
  const order = async () => (await b.client.recentContacts()).map((x) => [x.peer, x.pinned ?? false]);
  assert.deepEqual(await order(), [[cleo, true], [alice, false]]);
  // Another device of bob's learns it from the server at login.
  const tablet = client(bob, "node-2");
  await tablet.client.login();
  await tablet.waitFor("refresh", (e) => e.kind === "refresh");
  assert.deepEqual((await tablet.client.recentContacts()).map((x) => [x.peer, x.pinned]), [[cleo, true], [alice, false]]);

  // bob deletes his conversation with alice, history included.
  await b.client.deleteConversation(alice, true);
  assert.deepEqual(await order(), [[cleo, true]]);
  assert.deepEqual(await b.client.getMessages(alice, 10), []);

  for (const r of [a, b, c, tablet]) await r.client.logout();
});
