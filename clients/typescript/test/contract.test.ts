// The machine-readable specs (docs/api/openapi.yaml, docs/api/asyncapi.yaml):
// both validate with maintained validators, and the running server keeps
// them. Every documented REST endpoint is called, its request checked
// against its request schema and its replies (successes and refusals)
// against its reply schema, with the error code among those it documents;
// every documented WebSocket frame is sent or received, and validated.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

import { Parser, fromFile } from "@asyncapi/parser";
import { dereference, validate } from "@readme/openapi-parser";
import { Ajv as Ajv07, type ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";

import { adminQuery, eventually, randomU32, restRaw, server, textBody, uid, usersig } from "./support.js";

const addFormats = addFormatsModule as unknown as (ajv: object) => void;
const specDir = fileURLToPath(new URL("../../../../docs/api/", import.meta.url));
const OPENAPI = `${specDir}openapi.yaml`;
const ASYNCAPI = `${specDir}asyncapi.yaml`;

type Json = any;

function check(validateFn: ValidateFunction, value: unknown, what: string): void {
  assert.ok(validateFn(value), `${what} does not match the spec: ${JSON.stringify(validateFn.errors, null, 1)}\n${JSON.stringify(value)}`);
}

test("the OpenAPI document is valid OpenAPI 3.1 and the REST API answers as it says", async () => {
  const result = await validate(OPENAPI);
  assert.ok(result.valid, JSON.stringify(result));
  const api: Json = await dereference(OPENAPI);
  assert.equal(api.openapi, "3.1.0");

  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const exercised = new Set<string>();
  const codesSeen = new Map<string, Set<number>>();

  /** Calls `path` (a documented operation) and checks the exchange against the spec; returns the reply. */
  /** `partial`: a request with some bad items, answered OK with the items listed as failed. */
  async function call(path: string, body: Json, opts: { expectOk?: boolean; partial?: boolean; raw?: string; query?: string } = {}): Promise<Json> {
    const op = api.paths[path]?.post;
    assert.ok(op, `${path} is not documented`);
    const expectOk = opts.expectOk ?? true;
    if (expectOk && !opts.partial) check(ajv.compile(op.requestBody.content["application/json"].schema), body, `the request to ${path}`);
    const { status, json } = await restRaw(path.replace(/^\/v4\//, ""), opts.raw ?? body, opts.query ?? adminQuery());
    const response = op.responses[String(status)];
    assert.ok(response, `${path} answered HTTP ${status}, which it does not document`);
    check(ajv.compile(response.content["application/json"].schema), json, `the reply of ${path} (HTTP ${status})`);
    assert.ok(op["x-error-codes"].includes(json.ErrorCode) || json.ErrorCode === 0, `${path} answered ${json.ErrorCode}, not in its x-error-codes`);
    if (expectOk) assert.equal(json.ErrorCode, 0, `${path}: ${JSON.stringify(json)}`);
    else assert.notEqual(json.ErrorCode, 0, `${path} accepted ${JSON.stringify(body)}`);
    exercised.add(path);
    if (!codesSeen.has(path)) codesSeen.set(path, new Set());
    codesSeen.get(path)!.add(json.ErrorCode);
    return json;
  }

  const [alice, bob, carol, dave, erin] = ["alice", "bob", "carol", "dave", "erin"].map(uid) as string[] as [string, string, string, string, string];
  const now = () => Math.floor(Date.now() / 1000);
  for (const u of [alice, bob, carol]) await call("/v4/im_open_login_svc/account_import", { UserID: u, Nick: `${u} nick`, FaceUrl: "https://cdn.example.com/a.png" });
  await call("/v4/im_open_login_svc/multiaccount_import", { Accounts: [dave, erin] });
  await call("/v4/profile/portrait_set", { From_Account: alice, ProfileItem: [{ Tag: "Tag_Profile_IM_Nick", Value: "Alice" }] });
  const profiles = await call("/v4/profile/portrait_get", { To_Account: [alice, "never-imported"], TagList: ["Tag_Profile_IM_Nick", "Tag_Profile_IM_Image"] });
  assert.deepEqual(profiles.Fail_Account, ["never-imported"]);

  const sent = await call("/v4/openim/sendmsg", { From_Account: alice, To_Account: bob, MsgRandom: randomU32(), MsgSeq: randomU32(), MsgBody: textBody("hello bob"), CloudCustomData: "x", SyncOtherMachine: 1, MsgLifeTime: 3600, OfflinePushInfo: { PushFlag: 0, Title: "t", Desc: "d" } });
  const batch = await call("/v4/openim/batchsendmsg", { From_Account: alice, To_Account: [bob, carol, "not valid"], MsgRandom: randomU32(), MsgBody: textBody("hello all") }, { partial: true });
  // The bad recipient is listed; the others got the message.
  assert.deepEqual(batch.ErrorList, [{ To_Account: "not valid", ErrorCode: 90003 }]);
  await call("/v4/openim/batchsendmsg", { From_Account: alice, To_Account: [bob, carol], MsgRandom: randomU32(), MsgBody: textBody("hello both") });
  await call("/v4/openim/importmsg", { From_Account: carol, To_Account: alice, MsgRandom: randomU32(), MsgTimeStamp: now() - 3600, SyncFromOldSystem: 2, MsgBody: textBody("old") });
  await eventually("the sends in history", async () => (await restRaw("openim/admin_getroammsg", { Operator_Account: bob, Peer_Account: alice, MaxCnt: 10, MinTime: 0, MaxTime: now() + 60 })).json.MsgCnt === 3);
  const roam = await call("/v4/openim/admin_getroammsg", { Operator_Account: bob, Peer_Account: alice, MaxCnt: 2, MinTime: 0, MaxTime: now() + 60 });
  assert.equal(roam.Complete, 0);
  await call("/v4/openim/admin_getroammsg", { From_Account: bob, To_Account: alice, MaxCnt: 2, MinTime: 0, MaxTime: roam.LastMsgTime, LastMsgKey: roam.LastMsgKey });
  await call("/v4/openim/modify_c2c_msg", { From_Account: alice, To_Account: bob, MsgKey: sent.MsgKey, CloudCustomData: "edited" });
  await call("/v4/openim/get_c2c_unread_msg_num", { To_Account: bob });
  const unread = await call("/v4/openim/get_c2c_unread_msg_num", { To_Account: bob, Peer_Account: [alice, "not valid"] }, { partial: true });
  assert.equal(unread.ErrorList[0].ErrorCode, 90003);
  assert.equal(unread.C2CUnreadMsgNumList[0].C2CUnreadMsgNum, 3);
  await call("/v4/openim/admin_set_msg_read", { Report_Account: bob, Peer_Account: alice, MsgReadTime: String(now()) });
  for (const path of ["/v4/openim/querystate", "/v4/openim/query_online_status"]) await call(path, { To_Account: [alice, bob], IsNeedDetail: 1 });
  const contacts = await call("/v4/recentcontact/get_list", { From_Account: bob, TimeStamp: 0, StartIndex: 0, TopTimeStamp: 0, TopStartIndex: 0, AssistFlags: 7 });
  assert.equal(contacts.SessionItem[0].To_Account, alice);
  await call("/v4/missive_contact/set_top", { From_Account: bob, Type: 1, To_Account: alice, TopFlag: 1 });
  const pinned = await call("/v4/recentcontact/get_list", { From_Account: bob, TimeStamp: 0, StartIndex: 0, TopTimeStamp: 0, TopStartIndex: 0, AssistFlags: 7 });
  assert.equal(pinned.SessionItem[0].TopFlag, 1);
  const markItem = { OptType: 3, ContactItem: { Type: 1, To_Account: alice }, SetMark: [1, 2], CustomMark: "star" };
  assert.equal((await call("/v4/recentcontact/mark_contact", { From_Account: bob, MarkItem: [markItem] })).ResultItem[0].ResultCode, 0);
  const marked = await call("/v4/recentcontact/get_contact_group", { From_Account: bob, StartIndex: 0 });
  assert.deepEqual([marked.ContactItem[0].StandardMark, marked.ContactItem[0].CustomMark], ["110", "star"]);
  const asking = await call("/v4/openim/sendmsg", { From_Account: alice, To_Account: bob, MsgRandom: randomU32(), IsNeedReadReceipt: 1, MsgBody: textBody("read me") });
  await eventually("the message asking for a receipt in history", async () => (await restRaw("openim/admin_getroammsg", { Operator_Account: bob, Peer_Account: alice, MaxCnt: 10, MinTime: 0, MaxTime: now() + 60 })).json.MsgList.some((m: Json) => m.MsgKey === asking.MsgKey));
  await call("/v4/missive_msg/read_receipt", { Report_Account: bob, Peer_Account: alice, MsgKeyList: [asking.MsgKey] });
  await call("/v4/recentcontact/delete", { From_Account: carol, Type: 1, To_Account: alice, ClearRamble: 1 });
  const added = await call("/v4/sns/friend_add", { From_Account: alice, ForceAddFlags: 1, AddFriendItem: [{ To_Account: bob, AddSource: "AddSource_Type_Web" }, { To_Account: "never-imported", AddSource: "AddSource_Type_Web" }] });
  assert.deepEqual(added.ResultItem.map((r: Json) => r.ResultCode), [0, 30003]);
  await call("/v4/sns/friend_check", { From_Account: alice, To_Account: [bob, carol], CheckType: "CheckResult_Type_Both" });
  const deleted = await call("/v4/sns/friend_delete", { From_Account: alice, To_Account: [bob, carol], DeleteType: "Delete_Type_Both" });
  assert.deepEqual(deleted.ResultItem.map((r: Json) => r.ResultCode), [0, 31704]);
  await call("/v4/sns/black_list_add", { From_Account: bob, To_Account: [carol] });
  const blocks = await call("/v4/sns/black_list_get", { From_Account: bob, StartIndex: 0, MaxLimited: 10, LastSequence: 0 });
  assert.deepEqual(blocks.BlackListItem.map((b: Json) => b.To_Account), [carol]);
  await call("/v4/sns/black_list_delete", { From_Account: bob, To_Account: [carol] });
  await call("/v4/sns/black_list_check", { From_Account: bob, To_Account: [carol], CheckType: "BlackCheckResult_Type_Both" });
  await call("/v4/sns/friend_import", { From_Account: carol, AddFriendItem: [{ To_Account: dave, AddSource: "AddSource_Type_Old", GroupName: ["old"], AddTime: now() - 60, CustomItem: [{ Tag: "Tag_SNS_Custom_Rank", Value: 1 }] }] });
  await call("/v4/sns/friend_update", { From_Account: carol, UpdateItem: [{ To_Account: dave, SnsItem: [{ Tag: "Tag_SNS_IM_Remark", Value: "Dave" }] }] });
  assert.equal((await call("/v4/sns/friend_get", { From_Account: carol, StartIndex: 0 })).FriendNum, 1);
  await call("/v4/sns/friend_get_list", { From_Account: carol, To_Account: [dave], TagList: ["Tag_SNS_IM_Remark", "Tag_Profile_IM_Nick"] });
  // dave's request waits for carol (AllowType_Type_NeedConfirm, the default), who accepts it.
  const requested = await call("/v4/sns/friend_add", { From_Account: dave, AddFriendItem: [{ To_Account: carol, AddSource: "AddSource_Type_Web" }] });
  assert.deepEqual(requested.ResultItem.map((r: Json) => r.ResultCode), [30539]);
  const pendency = await call("/v4/sns/friend_pendency_get", { From_Account: carol, PendencyType: "Pendency_Type_ComeIn", StartIndex: 0, MaxLimited: 10 });
  assert.deepEqual(pendency.PendencyItem.map((p: Json) => p.To_Account), [dave]);
  await call("/v4/sns/friend_response", { From_Account: carol, ResponseFriendItem: [{ To_Account: dave, ResponseAction: "Response_Action_AgreeAndAdd" }] });
  await call("/v4/openim/admin_msgwithdraw", { From_Account: alice, To_Account: bob, MsgKey: sent.MsgKey });
  await call("/v4/missive_push/set_token", { From_Account: bob, DeviceId: "phone-1", Platform: "fcm", Token: "token-1" });
  await call("/v4/missive_push/delete_token", { From_Account: bob, DeviceId: "phone-1", Platform: "fcm", Token: "token-1" });
  // The account lifecycle (docs/rest-api.md): erin is muted, kicked, then deleted.
  const checked = await call("/v4/im_open_login_svc/account_check", { CheckItem: [{ UserID: alice }, { UserID: "never-imported" }] });
  assert.deepEqual(checked.ResultItem.map((r: Json) => r.AccountStatus), ["Imported", "NotImported"]);
  await call("/v4/openconfigsvr/setnospeaking", { Set_Account: erin, C2CmsgNospeakingTime: 60 });
  assert.equal((await call("/v4/openconfigsvr/getnospeaking", { Get_Account: erin })).C2CmsgNospeakingTime, 60);
  await call("/v4/openim/sendmsg", { From_Account: erin, To_Account: alice, MsgRandom: randomU32(), MsgBody: textBody("muted") }, { expectOk: false });
  await call("/v4/im_open_login_svc/kick", { UserID: erin });
  const gone = await call("/v4/im_open_login_svc/account_delete", { DeleteItem: [{ UserID: erin }, { UserID: "never-imported" }] });
  assert.deepEqual(gone.ResultItem.map((r: Json) => r.ResultCode), [0, 70107]);
  await call("/v4/im_open_login_svc/kick", { UserID: erin }, { expectOk: false });

  // Refusals: an empty body for every API, a body that is not JSON, bad query parameters.
  for (const path of Object.keys(api.paths).filter((p) => p.startsWith("/v4/"))) await call(path, {}, { expectOk: false });
  await call("/v4/openim/sendmsg", {}, { expectOk: false, raw: "{not json" });
  await call("/v4/sns/friend_check", {}, { expectOk: false, raw: "[1," });
  await call("/v4/openim/admin_msgwithdraw", { From_Account: alice, To_Account: bob, MsgKey: sent.MsgKey }, { expectOk: false });
  await call("/v4/openim/sendmsg", { To_Account: bob, MsgRandom: 1, MsgBody: [{ MsgType: "TIMHologramElem", MsgContent: {} }] }, { expectOk: false });
  const q = (sig: string, extra = "") => `sdkappid=${server.sdkappid}&identifier=${server.admin}&usersig=${sig}&random=1${extra}`;
  await call("/v4/openim/sendmsg", {}, { expectOk: false, query: q("garbage") });
  await call("/v4/openim/sendmsg", {}, { expectOk: false, query: q(usersig(server.admin), "&contenttype=xml") });
  await call("/v4/openim/sendmsg", {}, { expectOk: false, query: `identifier=${server.admin}&usersig=${usersig(server.admin)}` });
  await call("/v4/openim/sendmsg", {}, { expectOk: false, query: q(usersig(server.admin)).replace(`identifier=${server.admin}`, `identifier=${alice}`).replace(usersig(server.admin), usersig(alice)) });
  const seen = (path: string, code: number) => assert.ok(codesSeen.get(path)?.has(code), `${path} never answered ${code}`);
  seen("/v4/openim/sendmsg", 90001);
  seen("/v4/openim/sendmsg", 90010);
  seen("/v4/openim/sendmsg", 70003);
  seen("/v4/openim/sendmsg", 60002);
  seen("/v4/openim/sendmsg", 60012);
  seen("/v4/openim/sendmsg", 60010);
  seen("/v4/sns/friend_check", 60003);
  seen("/v4/openim/admin_msgwithdraw", 20023);
  seen("/v4/openim/sendmsg", 20012);
  seen("/v4/im_open_login_svc/kick", 70107);

  // The operations endpoints (GET, no UserSig).
  for (const path of ["/healthz", "/readyz", "/metrics"]) {
    const r = await fetch(`${server.rest}${path}`);
    const response = api.paths[path].get.responses[String(r.status)];
    assert.ok(response, `${path} answered HTTP ${r.status}`);
    const [type, media] = Object.entries(response.content)[0] as [string, Json];
    const body = type === "application/json" ? await r.json() : await r.text();
    check(ajv.compile(media.schema), body, `${path}`);
    exercised.add(path);
  }
  assert.deepEqual([...exercised].sort(), Object.keys(api.paths).sort(), "every documented endpoint was exercised");
  // And every endpoint the server routes is documented: an undocumented one answers 60009.
  const unknown = await restRaw("openim/no_such_api", {});
  assert.equal(unknown.json.ErrorCode, 60009);
});

/** A raw WebSocket session that validates every frame, both ways, against the AsyncAPI document. */
class Session {
  readonly frames: Json[] = [];
  closed: { code: number; reason: string } | undefined;
  private constructor(
    private readonly ws: WebSocket,
    private readonly contract: Contract,
  ) {}

  static async open(contract: Contract): Promise<Session> {
    const ws = new WebSocket(server.ws);
    const s = new Session(ws, contract);
    ws.onmessage = (ev) => {
      const f = JSON.parse(String(ev.data));
      contract.checkServerFrame(f);
      s.frames.push(f);
    };
    ws.onclose = (ev) => (s.closed = { code: ev.code, reason: ev.reason });
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    return s;
  }

  send(frame: Json): void {
    this.contract.checkClientFrame(frame);
    this.ws.send(JSON.stringify(frame));
  }

  sendRaw(text: string): void {
    this.ws.send(text);
  }

  async next(match: (f: Json) => boolean, what: string): Promise<Json> {
    let found: Json;
    await eventually(what, () => (found = this.frames.find(match)) !== undefined);
    return found;
  }

  async request(frame: Json): Promise<Json> {
    const id = randomU32();
    this.send({ ...frame, id });
    return this.next((f) => f.id === id, `the reply to ${frame.type}`);
  }

  close(): void {
    this.ws.close();
  }
}

class Contract {
  readonly sent = new Set<string>();
  readonly received = new Set<string>();
  private readonly ajv = new Ajv07({ strict: false, allErrors: true });
  private readonly server = new Map<string, { name: string; validate: ValidateFunction }>();
  private readonly client = new Map<string, { name: string; validate: ValidateFunction }>();

  constructor(doc: Json) {
    addFormats(this.ajv);
    for (const op of Object.values<Json>(doc.operations)) {
      const direction = op.action === "receive" ? this.client : this.server;
      for (const m of op.messages) this.add(direction, m);
      for (const m of op.reply?.messages ?? []) this.add(this.server, m);
    }
  }

  private add(into: Map<string, { name: string; validate: ValidateFunction }>, m: Json) {
    const type = m.payload.properties.type.const as string;
    const known = into.get(type);
    assert.ok(!known || known.name === m.title, `two ${type} messages in one direction: ${known?.name}, ${m.title}`);
    into.set(type, { name: m.title, validate: this.ajv.compile(m.payload) });
  }

  checkServerFrame(f: Json) {
    const m = this.server.get(f.type);
    assert.ok(m, `the server sent a ${f.type} frame, which the AsyncAPI document does not have`);
    check(m.validate, f, `a ${f.type} frame from the server`);
    this.received.add(m.name);
  }

  checkClientFrame(f: Json) {
    const m = this.client.get(f.type);
    assert.ok(m, `a ${f.type} frame is not in the AsyncAPI document`);
    check(m.validate, f, `a ${f.type} frame to the server`);
    this.sent.add(m.name);
  }

  names(direction: "server" | "client"): string[] {
    return [...(direction === "server" ? this.server : this.client).values()].map((m) => m.name).sort();
  }
}

test("the AsyncAPI document is valid AsyncAPI 3 and the WebSocket protocol runs as it says", async () => {
  const { document, diagnostics } = await fromFile(new Parser(), ASYNCAPI).parse();
  const errors = diagnostics.filter((d) => d.severity === 0);
  assert.deepEqual(errors, [], "the AsyncAPI document has errors");
  assert.ok(document);
  const doc: Json = document.json();
  assert.equal(doc.asyncapi, "3.0.0");
  const contract = new Contract(doc);

  const [alice, bob] = [uid("alice"), uid("bob")];
  // Something waiting for bob, and a read report of his on another device.
  const first = await restRaw("openim/sendmsg", { From_Account: alice, To_Account: bob, MsgRandom: randomU32(), MsgBody: textBody("waiting") });
  await eventually("the message in history", async () => (await restRaw("openim/get_c2c_unread_msg_num", { To_Account: bob })).json.AllC2CUnreadMsgNum === 1);
  assert.equal((await restRaw("openim/admin_set_msg_read", { Report_Account: bob, Peer_Account: alice })).json.ErrorCode, 0);

  const b = await Session.open(contract);
  b.send({ type: "login", user: bob, usersig: usersig(bob), device: "phone-1", platform: "Web" });
  await b.next((f) => f.type === "sync_done", "bob's sync");
  const syncTypes = b.frames.map((f) => f.type);
  assert.deepEqual(syncTypes, ["login_ok", "message", "read", "contacts", "sync_done"]);

  const a = await Session.open(contract);
  a.send({ type: "login", user: alice, usersig: usersig(alice), device: "web-1", platform: "Web", cursor: 0 });
  await a.next((f) => f.type === "sync_done", "alice's sync");
  assert.equal((await a.request({ type: "ping" })).type, "pong");
  const msg = { To_Account: bob, MsgRandom: randomU32(), MsgSeq: randomU32(), MsgBody: textBody("live"), CloudCustomData: "", SyncOtherMachine: 1, MsgLifeTime: 60, IsNeedReadReceipt: 1 };
  const sent = await a.request({ type: "send", msg });
  assert.equal(sent.type, "sent");
  assert.equal((await a.request({ type: "send", msg })).duplicate, true, "a retry is the same message");
  const live = await b.next((f) => f.type === "message" && f.msg_key === sent.msg_key, "the live message");
  assert.equal(live.event, "new");
  const history = await a.request({ type: "history", peer: bob, count: 10, before_seq: 100, after_seq: 0 });
  assert.equal(history.type, "history");
  assert.equal(history.messages.length, 2);
  assert.equal((await b.request({ type: "read", peer: alice, seq: live.seq })).type, "ok");
  await a.next((f) => f.type === "read" && f.reader === bob, "the read receipt");
  // A per-message receipt for a message that asked for one, and a typing indicator.
  assert.equal((await b.request({ type: "receipt", peer: alice, msg_keys: [sent.msg_key] })).type, "ok");
  await a.next((f) => f.type === "receipt" && f.msg_key === sent.msg_key, "the message's receipt");
  assert.equal((await b.request({ type: "typing", peer: alice })).type, "ok");
  await a.next((f) => f.type === "typing" && f.from === bob, "bob typing");
  assert.equal((await a.request({ type: "pin", peer: bob, pinned: true })).type, "ok");
  const contacts = await a.request({ type: "contacts", start: 0, count: 10, messages: 2 });
  assert.equal(contacts.contacts[0].messages.length, 2);
  assert.equal(contacts.contacts[0].pinned, true);
  // An edit (REST) and a recall reach the device as message events.
  assert.equal((await restRaw("openim/modify_c2c_msg", { From_Account: alice, To_Account: bob, MsgKey: sent.msg_key, CloudCustomData: "edited" })).json.ErrorCode, 0);
  await b.next((f) => f.type === "message" && f.event === "edit", "the edit");
  assert.equal((await a.request({ type: "recall", peer: bob, msg_key: sent.msg_key })).type, "ok");
  await b.next((f) => f.type === "message" && f.event === "recall", "the recall");
  const again = await a.request({ type: "recall", peer: bob, msg_key: sent.msg_key });
  assert.deepEqual([again.type, again.code], ["error", 20023]);
  assert.equal((await b.request({ type: "push_token", platform: "fcm", token: "tok-1", remove: false })).type, "ok");
  assert.equal((await b.request({ type: "push_token", platform: "fcm", token: "tok-1", remove: true })).type, "ok");
  assert.equal((await b.request({ type: "delete_conversation", peer: alice, clear_history: false })).type, "ok");
  // A frame that is not JSON: an error without id; the session stays open.
  b.sendRaw("{nope");
  await b.next((f) => f.type === "error" && f.id === undefined && f.code === 20001, "the error for a bad frame");
  assert.equal((await b.request({ type: "ping" })).type, "pong");
  a.close();
  b.close();

  // A refused login: an error frame, then close 4001.
  const m = await Session.open(contract);
  m.send({ type: "login", user: bob, usersig: usersig(alice), device: "d" });
  await m.next((f) => f.type === "error" && f.code === 70013, "the refusal");
  await eventually("the close", () => m.closed !== undefined);
  assert.equal(m.closed?.code, 4001);
  assert.equal(first.json.ErrorCode, 0);

  assert.deepEqual([...contract.received].sort(), contract.names("server"), "every server frame was seen");
  assert.deepEqual([...contract.sent].sort(), contract.names("client"), "every client frame was sent");
});
