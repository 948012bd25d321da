// What the tests share: the server under test (from the environment the
// Rust runner, tests/api/typescript_client.rs, sets), UserSig minting, REST
// calls as the administrator, clients that record their events, and a TCP
// proxy whose connections a test can cut.

import { createHmac, randomBytes } from "node:crypto";
import { createServer, connect, type Server, type Socket } from "node:net";
import { deflateSync } from "node:zlib";

import { Client, type ClientOptions, type ConnectionState, type Message, type CacheStore } from "@missive/client";

function env(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run these tests through \`cargo test --test api typescript_client::\``);
  }
  return v;
}

export const server = {
  /** ws://127.0.0.1:PORT/v1/ws */
  ws: env("MISSIVE_TEST_WS_URL"),
  /** http://127.0.0.1:PORT (ingest) */
  rest: env("MISSIVE_TEST_REST_URL"),
  /** http://127.0.0.1:PORT (delivery) */
  delivery: new URL(env("MISSIVE_TEST_WS_URL").replace(/^ws/, "http")).origin,
  sdkappid: Number(env("MISSIVE_TEST_SDKAPPID")),
  admin: env("MISSIVE_TEST_ADMIN"),
  secretKey: env("MISSIVE_TEST_SECRET_KEY"),
};

/**
 * A Tencent UserSig v2 (docs/usersig.md), minted here from the app's key:
 * an independent implementation of the format the server verifies.
 */
export function usersig(user: string, expireSecs = 3600, now = Math.floor(Date.now() / 1000)): string {
  const lines =
    `TLS.identifier:${user}\nTLS.sdkappid:${server.sdkappid}\n` + `TLS.time:${now}\nTLS.expire:${expireSecs}\n`;
  const sig = createHmac("sha256", server.secretKey).update(lines).digest("base64");
  const json = JSON.stringify({
    "TLS.ver": "2.0",
    "TLS.identifier": user,
    "TLS.sdkappid": server.sdkappid,
    "TLS.expire": expireSecs,
    "TLS.time": now,
    "TLS.sig": sig,
  });
  return deflateSync(json).toString("base64").replace(/\+/g, "*").replace(/\//g, "-").replace(/=/g, "_");
}

/** A user id no other test uses (the tests share one server). */
export function uid(name: string): string {
  return `${name}-${randomBytes(4).toString("hex")}`;
}

export function randomU32(): number {
  return randomBytes(4).readUInt32BE();
}

/** The admin query string of a REST call. */
export function adminQuery(): string {
  return `sdkappid=${server.sdkappid}&identifier=${server.admin}&usersig=${usersig(server.admin)}&random=${randomU32()}&contenttype=json`;
}

/** POSTs `body` to `/v4/<api>` as the administrator; the HTTP status and the reply. */
export async function restRaw(api: string, body: unknown, query = adminQuery()): Promise<{ status: number; json: any }> {
  const r = await fetch(`${server.rest}/v4/${api}?${query}`, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: r.status, json: await r.json() };
}

export async function rest(api: string, body: unknown): Promise<any> {
  return (await restRaw(api, body)).json;
}

export function textBody(text: string) {
  return [{ MsgType: "TIMTextElem", MsgContent: { Text: text } }];
}

/** An admin send as `from`; fails the test unless accepted. */
export async function sendRest(from: string, to: string, text: string, extra: Record<string, unknown> = {}) {
  const reply = await rest("openim/sendmsg", {
    From_Account: from,
    To_Account: to,
    MsgRandom: randomU32(),
    MsgBody: textBody(text),
    ...extra,
  });
  if (reply.ErrorCode !== 0) throw new Error(`sendmsg failed: ${JSON.stringify(reply)}`);
  return reply as { MsgKey: string; MsgTime: number };
}

/** `user`'s side of the conversation with `peer`, as the roaming store holds it (REST). */
export async function roaming(user: string, peer: string): Promise<any[]> {
  const reply = await rest("openim/admin_getroammsg", {
    Operator_Account: user,
    Peer_Account: peer,
    MaxCnt: 100,
    MinTime: 0,
    MaxTime: Math.floor(Date.now() / 1000) + 60,
  });
  if (reply.ErrorCode !== 0) throw new Error(`admin_getroammsg failed: ${JSON.stringify(reply)}`);
  return reply.MsgList;
}

/** Waits until `ok()` holds (polling), or fails after `ms`. */
export async function eventually(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export type Recorded =
  | { kind: "new"; m: Message }
  | { kind: "refresh" }
  | { kind: "recall"; m: Message }
  | { kind: "edit"; m: Message }
  | { kind: "readReceipt"; peer: string; readSeq: number }
  | { kind: "readElsewhere"; peer: string; readSeq: number }
  | { kind: "messageRead"; peer: string; msgKey: string; seq: number }
  | { kind: "typing"; from: string }
  | { kind: "state"; s: ConnectionState };

/** A client and everything it raised, in order. */
export class Recorder {
  readonly events: Recorded[] = [];
  constructor(readonly client: Client) {
    client.onNewMessage((m) => this.events.push({ kind: "new", m }));
    client.onRefresh(() => this.events.push({ kind: "refresh" }));
    client.onRecall((m) => this.events.push({ kind: "recall", m }));
    client.onEdit((m) => this.events.push({ kind: "edit", m }));
    client.onReadReceipt((peer, readSeq) => this.events.push({ kind: "readReceipt", peer, readSeq }));
    client.onReadElsewhere((peer, readSeq) => this.events.push({ kind: "readElsewhere", peer, readSeq }));
    client.onMessageRead((peer, msgKey, seq) => this.events.push({ kind: "messageRead", peer, msgKey, seq }));
    client.onTyping((from) => this.events.push({ kind: "typing", from }));
    client.onConnectionState((s) => this.events.push({ kind: "state", s }));
  }

  /** Waits for an event that satisfies `match`, after index `from`; returns its index. */
  async waitFor(what: string, match: (e: Recorded) => boolean, from = 0): Promise<number> {
    let at = -1;
    await eventually(what, () => {
      at = this.events.findIndex((e, i) => i >= from && match(e));
      return at >= 0;
    });
    return at;
  }

  refreshes(): number {
    return this.events.filter((e) => e.kind === "refresh").length;
  }

  /** Texts of the new messages raised, in order. */
  texts(): string[] {
    return this.events.flatMap((e) => (e.kind === "new" ? [textOf(e.m)] : []));
  }
}

export function textOf(m: Message): string {
  const [e] = m.body;
  if (m.body.length !== 1 || e?.MsgType !== "TIMTextElem") throw new Error(`not one text element: ${JSON.stringify(m.body)}`);
  return e.MsgContent.Text;
}

/** A client of `user` on `device` with its events recorded; not logged in yet. */
export function client(
  user: string,
  device = "node-1",
  extra: Partial<ClientOptions> & { store?: CacheStore } = {},
): Recorder {
  return new Recorder(new Client({ url: server.ws, user, usersig: usersig(user), device, ...extra }));
}

/** A TCP proxy to the delivery service whose connections `cut()` drops, as a flaky network would. */
export class CuttableProxy {
  private constructor(
    private readonly srv: Server,
    readonly url: string,
    private readonly sockets: Set<Socket>,
  ) {}

  /**
   * `loseRepliesAfter`: on the first connection only, once the client has
   * written that many chunks (1: the WebSocket handshake, 2: the login
   * frame, 3: its first request),
   * the server's replies are dropped and the connection is cut shortly
   * after: a request the server received whose answer never came.
   */
  static async start(target: string, opts: { loseRepliesAfter?: number } = {}): Promise<CuttableProxy> {
    const { hostname, port, pathname } = new URL(target);
    const sockets = new Set<Socket>();
    let connections = 0;
    const srv = createServer((inbound) => {
      const outbound = connect(Number(port), hostname);
      for (const s of [inbound, outbound]) {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
        s.on("error", () => {});
      }
      inbound.on("close", () => outbound.destroy());
      outbound.on("close", () => inbound.destroy());
      const lossy = connections++ === 0 && opts.loseRepliesAfter !== undefined;
      if (!lossy) {
        inbound.pipe(outbound).pipe(inbound);
        return;
      }
      let chunks = 0;
      let deaf = false;
      inbound.on("data", (chunk) => {
        outbound.write(chunk);
        if (++chunks === opts.loseRepliesAfter) {
          deaf = true;
          setTimeout(() => inbound.destroy(), 300);
        }
      });
      outbound.on("data", (chunk) => deaf || inbound.write(chunk));
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const addr = srv.address();
    if (!addr || typeof addr === "string") throw new Error("no proxy address");
    return new CuttableProxy(srv, `ws://127.0.0.1:${addr.port}${pathname}`, sockets);
  }

  /** Drops every connection through the proxy (no close frame: the TCP stream just ends). */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((r) => this.srv.close(() => r()));
  }
}
