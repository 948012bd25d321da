// The WebSocket protocol's frames (docs/protocol.md, docs/api/asyncapi.yaml).

import type { Element } from "./elements.js";

/** A message as the server's history holds it. */
export interface HistoryMessage {
  /** Dense position in the conversation (1, 2, 3, ...). */
  seq: number;
  msg_key: string;
  from: string;
  to: string;
  /** Unix seconds. */
  time: number;
  msg_seq: number;
  msg_random: number;
  /** Empty once recalled. */
  body: Element[];
  cloud_custom_data: string;
  sender: { nickname: string; avatar_url: string };
  recalled: boolean;
  /** Its recipient read it (their read position covers it, or they sent a receipt for it). */
  peer_read: boolean;
  /** Sent asking for a read receipt: its recipient may answer with `sendReadReceipts`. */
  need_read_receipt: boolean;
}

/** A message as the client hands it to the app: with its conversation and peer. */
export interface Message extends HistoryMessage {
  /** Both user ids, sorted, joined by `:`. */
  conversation: string;
  /** The other party, from this user's side. */
  peer: string;
}

export interface ContactEntry {
  peer: string;
  conversation: string;
  last_at_ms: number;
  last_seq: number;
  unread: number;
  /** Pinned by this user: listed first. */
  pinned: boolean;
  last_message: HistoryMessage | null;
  messages?: HistoryMessage[];
}

export type ServerFrame =
  | { type: "login_ok"; user: string; device: string; cursor: number }
  | ({ type: "message"; cursor: number; event: "new" | "recall" | "edit"; conversation: string; peer: string } & HistoryMessage)
  | { type: "read"; cursor: number; conversation: string; peer: string; reader: string; read_seq: number }
  | { type: "receipt"; cursor: number; conversation: string; peer: string; reader: string; msg_key: string; seq: number }
  | { type: "typing"; from: string }
  | { type: "contacts"; id?: unknown; contacts: ContactEntry[] }
  | { type: "sync_done"; cursor: number }
  | { type: "sent"; id?: unknown; msg_key: string; msg_time: number; msg_seq: number; duplicate: boolean }
  | { type: "history"; id?: unknown; peer: string; messages: HistoryMessage[]; complete: boolean }
  | { type: "ok"; id?: unknown }
  | { type: "pong"; id?: unknown }
  | { type: "error"; id?: unknown; code: number; info: string };

/** Close codes the server uses (docs/protocol.md). */
export const CloseCode = {
  ShuttingDown: 1001,
  AuthFailed: 4001,
  BadLogin: 4002,
  UserSigExpired: 4003,
  TooSlow: 4008,
} as const;

/** The conversation id of two users: both ids, sorted, joined by `:`. */
export function conversationOf(a: string, b: string): string {
  return a <= b ? `${a}:${b}` : `${b}:${a}`;
}
