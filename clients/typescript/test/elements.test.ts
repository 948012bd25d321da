// Every element type sent through the client, received by the peer as sent;
// recall and read receipts; refusals surfaced as typed errors with Tencent's
// codes. The server under test refuses messages to a user who blocks the
// sender (block_mode = refuse, set by tests/api/typescript_client.rs).

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  AuthError,
  Client,
  ErrorCode,
  InvalidArgumentError,
  ServerError,
  elements,
  type Element,
  type SentMessage,
} from "@missive/client";
import { client, rest, server, uid, usersig } from "./support.js";

const everyElement: Element[][] = [
  [elements.text("hello")],
  [elements.face(3, "smile")],
  [elements.location(22.54, 114.06, "Shenzhen")],
  [elements.custom('{"red_packet":8}', "red packet")],
  [{ MsgType: "TIMSoundElem", MsgContent: { Url: "https://cdn.example.com/a.m4a", UUID: "s1", Size: 2048, Second: 3, Download_Flag: 2 } }],
  [
    {
      MsgType: "TIMImageElem",
      MsgContent: {
        UUID: "i1",
        ImageFormat: 3,
        ImageInfoArray: [
          { Type: 1, Size: 9000, Width: 800, Height: 600, URL: "https://cdn.example.com/i.png" },
          { Type: 3, Size: 900, Width: 80, Height: 60, URL: "https://cdn.example.com/t.png" },
        ],
      },
    },
  ],
  [{ MsgType: "TIMFileElem", MsgContent: { Url: "https://cdn.example.com/f.pdf", UUID: "f1", FileSize: 5000, FileName: "f.pdf", Download_Flag: 2 } }],
  [
    {
      MsgType: "TIMVideoFileElem",
      MsgContent: {
        VideoUrl: "https://cdn.example.com/v.mp4",
        VideoUUID: "v1",
        VideoSize: 70000,
        VideoSecond: 9,
        VideoFormat: "mp4",
        VideoDownloadFlag: 2,
        ThumbUrl: "https://cdn.example.com/v.jpg",
        ThumbUUID: "t1",
        ThumbSize: 300,
        ThumbWidth: 64,
        ThumbHeight: 48,
        ThumbFormat: "jpg",
        ThumbDownloadFlag: 2,
      },
    },
  ],
  // Several elements in one message.
  [elements.text("look"), elements.face(1, "")],
];

function serverError(code: number, infoHas?: string) {
  return (e: unknown) => {
    assert.ok(e instanceof ServerError, `expected a ServerError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.info);
    if (infoHas) assert.ok(e.info.includes(infoHas), e.info);
    return true;
  };
}

test("every element type is sent, received as sent, recalled and read", async () => {
  const [aliceId, bobId] = [uid("alice"), uid("bob")];
  const alice = client(aliceId);
  const bob = client(bobId);
  await alice.client.login();
  await bob.client.login();
  await alice.waitFor("alice's refresh", (e) => e.kind === "refresh");
  await bob.waitFor("bob's refresh", (e) => e.kind === "refresh");

  const sent: SentMessage[] = [];
  for (const [i, body] of everyElement.entries()) {
    const s = await alice.client.sendMessage(bobId, body);
    assert.equal(s.seq, i + 1, "the seq comes back with the send");
    sent.push(s);
  }
  await bob.waitFor("every message", () => bob.events.filter((e) => e.kind === "new").length === everyElement.length);
  const received = bob.events.flatMap((e) => (e.kind === "new" ? [e.m] : []));
  for (const [i, body] of everyElement.entries()) {
    // The server fills defaults (UUID, download flags, ...): what was sent is all there.
    assert.deepEqual(received[i]?.body.map((e) => e.MsgType), body.map((e) => e.MsgType));
    for (const [j, e] of body.entries()) {
      assert.deepEqual({ ...received[i]?.body[j]?.MsgContent, ...e.MsgContent }, received[i]?.body[j]?.MsgContent, `element ${i}.${j}`);
    }
    assert.equal(received[i]?.msg_key, sent[i]?.msg_key);
    assert.equal(received[i]?.from, aliceId);
  }
  // alice's own sends came back to her stream too, with their seq.
  assert.equal(alice.events.filter((e) => e.kind === "new").length, everyElement.length);

  // Recall: bob's copy empties; a read report reaches alice as a receipt.
  await alice.client.recall(bobId, sent[0]!.msg_key);
  await bob.waitFor("the recall", (e) => e.kind === "recall" && e.m.msg_key === sent[0]!.msg_key && e.m.recalled && e.m.body.length === 0);
  const [oldest] = await bob.client.getMessages(aliceId, 1, 2);
  assert.ok(oldest?.recalled, "the cache holds the recall");
  await assert.rejects(alice.client.recall(bobId, sent[0]!.msg_key), serverError(ErrorCode.AlreadyRecalled));
  await assert.rejects(bob.client.recall(aliceId, sent[1]!.msg_key), serverError(ErrorCode.MessageNotFound));
  await bob.client.markRead(aliceId);
  await alice.waitFor("the read receipt", (e) => e.kind === "readReceipt" && e.peer === bobId && e.readSeq === everyElement.length);
  assert.equal((await alice.client.recentContacts())[0]?.peer_read_seq, everyElement.length);

  // Refusals, each with Tencent's code.
  const ftp = { MsgType: "TIMFileElem", MsgContent: { Url: "ftp://x", FileSize: 1, FileName: "x" } } as const;
  await assert.rejects(alice.client.sendMessage(bobId, [ftp]), serverError(ErrorCode.ElementFormat, "Url"));
  const notice: Element = { MsgType: "TIMSystemElem", MsgContent: { Kind: "x.y", Text: "hi" } };
  await assert.rejects(alice.client.sendMessage(bobId, [notice]), serverError(ErrorCode.AdminRequired));
  await assert.rejects(alice.client.sendMessage("not valid", [elements.text("x")]), serverError(ErrorCode.ToAccountInvalid));
  await assert.rejects(bob.client.setPushToken("pager", "x"), serverError(ErrorCode.PushPlatformInvalid));
  await bob.client.setPushToken("fcm", "token-123");
  await bob.client.removePushToken("fcm", "token-123");
  // bob blocks alice: her next message is refused (20007).
  for (const u of [aliceId, bobId]) assert.equal((await rest("im_open_login_svc/account_import", { UserID: u })).ErrorCode, 0);
  const blocked = await rest("sns/black_list_add", { From_Account: bobId, To_Account: [aliceId] });
  assert.equal(blocked.ResultItem[0].ResultCode, 0, JSON.stringify(blocked));
  await assert.rejects(alice.client.sendMessage(bobId, [elements.text("hello?")]), serverError(ErrorCode.Blocked));
  // Caught locally, before anything is sent.
  await assert.rejects(alice.client.sendMessage(bobId, []), InvalidArgumentError);
  await assert.rejects(bob.client.getMessages(aliceId, 0), InvalidArgumentError);

  await alice.client.logout();
  await bob.client.logout();
});

test("a refused UserSig is an AuthError with Tencent's code, and no retry loop", async () => {
  const bob = uid("bob");
  const foreign = new Client({ url: server.ws, user: bob, usersig: usersig(uid("mallory")), device: "d" });
  await assert.rejects(foreign.login(), (e: unknown) => e instanceof AuthError && e.code === ErrorCode.UserSigForAnotherUser);
  const expired = new Client({ url: server.ws, user: bob, usersig: usersig(bob, 1, Math.floor(Date.now() / 1000) - 60), device: "d" });
  await assert.rejects(expired.login(), (e: unknown) => e instanceof AuthError && e.code === ErrorCode.UserSigExpired);
  assert.equal(expired.isConnected, false);
});
