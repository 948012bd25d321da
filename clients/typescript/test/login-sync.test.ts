// The login flow's order: offline messages, then the recent contacts'
// latest messages, then onRefresh; then live messages; reading clears counts.
// The server under test offers at most 2 conversations offline
// (offline_conversations_max, set by tests/api/typescript_client.rs).

import assert from "node:assert/strict";
import { test } from "node:test";

import { client, eventually, roaming, sendRest, uid } from "./support.js";

test("login raises offline messages, then contacts' latest messages, then refresh; then live ones", async () => {
  const [alice, bob, carol, dave] = ["alice", "bob", "carol", "dave"].map(uid) as [string, string, string, string];
  await sendRest(dave, bob, "from dave");
  // The caps keep the conversations with the newest inbox entries; projected
  // alone, dave's is surely the oldest.
  await eventually("dave's message in history", async () => (await roaming(bob, dave)).length === 1);
  for (const i of [1, 2, 3]) await sendRest(alice, bob, `alice ${i}`);
  await sendRest(carol, bob, "from carol");
  await eventually("every message in history", async () => (await roaming(bob, alice)).length === 3 && (await roaming(bob, carol)).length === 1);

  const b = client(bob);
  await b.client.login();
  await b.waitFor("refresh", (e) => e.kind === "refresh");
  const kinds = b.events.map((e) => (e.kind === "state" ? e.s.state : e.kind));
  assert.deepEqual(kinds, ["connecting", "connected", "new", "new", "new", "new", "new", "refresh"]);
  // Offline messages oldest first, then dave's latest from the contacts.
  assert.deepEqual(b.texts(), ["alice 1", "alice 2", "alice 3", "from carol", "from dave"]);
  const first = b.events.find((e) => e.kind === "new");
  assert.ok(first?.kind === "new" && first.m.peer === alice && first.m.conversation === [alice, bob].sort().join(":"));

  const contacts = await b.client.recentContacts();
  assert.equal(contacts[0]?.peer, carol, "most recent first");
  const unread = Object.fromEntries(contacts.map((c) => [c.peer, c.unread]));
  assert.equal(unread[alice], 3);
  assert.equal(unread[carol], 1);

  // Live after the refresh; reading clears the count.
  await sendRest(alice, bob, "alice live");
  await b.waitFor("the live message", (e) => e.kind === "new" && e.m.body[0]?.MsgType === "TIMTextElem" && e.m.body[0].MsgContent.Text === "alice live");
  assert.equal(b.refreshes(), 1);
  await b.client.markRead(alice);
  const after = await b.client.recentContacts();
  assert.equal(after.find((c) => c.peer === alice)?.unread, 0);

  // After logout, calls fail with a typed error.
  await b.client.logout();
  assert.equal(b.client.isConnected, false);
  await assert.rejects(b.client.markRead(alice), { name: "LoggedOutError" });
});
