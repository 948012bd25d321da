// The cache's rules without a server: what counts as new, unread counts,
// cursors that never go back, the gaps getMessages pulls.

import assert from "node:assert/strict";
import { test } from "node:test";

import { LocalCache, MemoryStore, gaps, type Message } from "@missive/client";

function msg(seq: number, from: string): Message {
  return {
    conversation: "alice:bob", peer: "alice", seq, msg_key: `k${seq}`, from, to: from === "alice" ? "bob" : "alice",
    time: 1700000000 + seq, msg_seq: seq, msg_random: seq, body: [], cloud_custom_data: "",
    sender: { nickname: "", avatar_url: "" }, recalled: false, peer_read: false, need_read_receipt: false,
  };
}

test("gaps are the missing ranges", () => {
  assert.deepEqual(gaps(1, 10, []), [[1, 10]]);
  assert.deepEqual(gaps(1, 10, [1, 2, 3, 7, 10]), [[4, 6], [8, 9]]);
  assert.deepEqual(gaps(3, 5, [3, 4, 5]), []);
  assert.deepEqual(gaps(3, 5, [4]), [[3, 3], [5, 5]]);
});

test("a message is new once; unread counts incoming live ones; cursors only advance", async () => {
  const cache = await LocalCache.open(new MemoryStore(), "bob");
  assert.equal(await cache.insert(msg(1, "alice"), true), true);
  assert.equal(await cache.insert(msg(1, "alice"), true), false);
  assert.equal(await cache.insert(msg(2, "bob"), true), true);
  assert.equal(await cache.insert(msg(3, "alice"), false), true);
  let [c] = await cache.conversations();
  assert.equal(c?.unread, 1);
  assert.equal(c?.last_seq, 3);
  assert.equal(c?.last_message?.seq, 3);
  await cache.setRead("alice", 1);
  [c] = await cache.conversations();
  assert.equal(c?.unread, 1, "seq 3 from alice is after the read position");
  assert.deepEqual(await cache.seqs("alice", 1, 5), [1, 2, 3]);
  assert.deepEqual((await cache.page("alice", 3, 5)).map((m) => m.seq), [2, 1]);
  assert.equal(await cache.seqOf("k2"), 2);
  await cache.setCursor("d", 7);
  await cache.setCursor("d", 5);
  assert.equal(await cache.cursor("d"), 7);
});
