//! The Rust mirror of `avro/commands.avsc`: what operators' backends write to
//! the commands topic, and its single-object codec.

use std::sync::OnceLock;

use apache_avro::types::Value;
use apache_avro::{to_avro_datum, Schema};

use crate::avro_value::{RecordBuilder, RecordReader};
use crate::codec::{fingerprint_of, hex_lower, SINGLE_OBJECT_MAGIC};
use crate::framing::{confluent_header, split, SchemaIds};
use crate::DecodeError;

/// The commands schema, as published in `schemas/avro/commands.avsc`.
pub const COMMANDS_SCHEMA_JSON: &str = include_str!("../avro/commands.avsc");

/// One command from an operator's backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The idempotency key.
    pub command_id: String,
    /// Milliseconds since the Unix epoch, by the issuer's clock.
    pub issued_at: i64,
    pub issuer: String,
    pub action: Action,
}

/// The kinds of command, in the order of the schema's union.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    SendMessage(SendMessage),
    SendSystemNotification(SendSystemNotification),
    BatchSend(BatchSend),
    FriendAdd(FriendPair),
    FriendDelete(FriendPair),
    BlockAdd(BlockPair),
    BlockRemove(BlockPair),
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::SendMessage(_) => "SendMessage",
            Action::SendSystemNotification(_) => "SendSystemNotification",
            Action::BatchSend(_) => "BatchSend",
            Action::FriendAdd(_) => "FriendAdd",
            Action::FriendDelete(_) => "FriendDelete",
            Action::BlockAdd(_) => "BlockAdd",
            Action::BlockRemove(_) => "BlockRemove",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SendMessage {
    pub from_account: String,
    pub to_account: String,
    /// Tencent `MsgBody` JSON.
    pub msg_body: String,
    pub cloud_custom_data: String,
    pub sync_other_machine: bool,
    pub lifetime_seconds: i32,
    /// Tencent `OfflinePushInfo` JSON.
    pub offline_push_info: Option<String>,
    pub need_read_receipt: bool,
    pub check_permissions: bool,
}

impl SendMessage {
    /// A text message with Tencent's defaults.
    pub fn text(from: &str, to: &str, text: &str) -> Self {
        Self {
            from_account: from.to_owned(),
            to_account: to.to_owned(),
            msg_body: serde_json::json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}])
                .to_string(),
            cloud_custom_data: String::new(),
            sync_other_machine: true,
            lifetime_seconds: 604_800,
            offline_push_info: None,
            need_read_receipt: false,
            check_permissions: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SendSystemNotification {
    /// `None`: the app administrator.
    pub from_account: Option<String>,
    pub to_account: String,
    pub kind: String,
    pub text: String,
    pub data: String,
    pub lifetime_seconds: i32,
    pub offline_push_info: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchSend {
    pub from_account: String,
    pub to_accounts: Vec<String>,
    pub msg_body: String,
    pub cloud_custom_data: String,
    pub sync_other_machine: bool,
    pub lifetime_seconds: i32,
    pub offline_push_info: Option<String>,
}

/// `FriendAdd` / `FriendDelete`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendPair {
    pub user_id: String,
    pub friend_id: String,
    pub both: bool,
}

/// `BlockAdd` / `BlockRemove`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPair {
    pub user_id: String,
    pub blocked_id: String,
}

fn opt_string(v: &Option<String>) -> Value {
    match v {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(s) => Value::Union(1, Box::new(Value::String(s.clone()))),
    }
}

impl Command {
    pub fn to_value(&self) -> Value {
        let (index, action) = match &self.action {
            Action::SendMessage(m) => (
                0,
                RecordBuilder::with_capacity(9)
                    .field("from_account", m.from_account.as_str())
                    .field("to_account", m.to_account.as_str())
                    .field("msg_body", m.msg_body.as_str())
                    .field("cloud_custom_data", m.cloud_custom_data.as_str())
                    .field("sync_other_machine", m.sync_other_machine)
                    .field("lifetime_seconds", m.lifetime_seconds)
                    .field("offline_push_info", opt_string(&m.offline_push_info))
                    .field("need_read_receipt", m.need_read_receipt)
                    .field("check_permissions", m.check_permissions)
                    .build(),
            ),
            Action::SendSystemNotification(n) => (
                1,
                RecordBuilder::with_capacity(7)
                    .field("from_account", opt_string(&n.from_account))
                    .field("to_account", n.to_account.as_str())
                    .field("kind", n.kind.as_str())
                    .field("text", n.text.as_str())
                    .field("data", n.data.as_str())
                    .field("lifetime_seconds", n.lifetime_seconds)
                    .field("offline_push_info", opt_string(&n.offline_push_info))
                    .build(),
            ),
            Action::BatchSend(b) => (
                2,
                RecordBuilder::with_capacity(7)
                    .field("from_account", b.from_account.as_str())
                    .field(
                        "to_accounts",
                        Value::Array(b.to_accounts.iter().map(|t| t.as_str().into()).collect()),
                    )
                    .field("msg_body", b.msg_body.as_str())
                    .field("cloud_custom_data", b.cloud_custom_data.as_str())
                    .field("sync_other_machine", b.sync_other_machine)
                    .field("lifetime_seconds", b.lifetime_seconds)
                    .field("offline_push_info", opt_string(&b.offline_push_info))
                    .build(),
            ),
            Action::FriendAdd(f) | Action::FriendDelete(f) => (
                if matches!(self.action, Action::FriendAdd(_)) {
                    3
                } else {
                    4
                },
                RecordBuilder::with_capacity(3)
                    .field("user_id", f.user_id.as_str())
                    .field("friend_id", f.friend_id.as_str())
                    .field("both", f.both)
                    .build(),
            ),
            Action::BlockAdd(b) | Action::BlockRemove(b) => (
                if matches!(self.action, Action::BlockAdd(_)) {
                    5
                } else {
                    6
                },
                RecordBuilder::with_capacity(2)
                    .field("user_id", b.user_id.as_str())
                    .field("blocked_id", b.blocked_id.as_str())
                    .build(),
            ),
        };
        RecordBuilder::with_capacity(4)
            .field("command_id", self.command_id.as_str())
            .field("issued_at", Value::TimestampMillis(self.issued_at))
            .field("issuer", self.issuer.as_str())
            .field("command", Value::Union(index, Box::new(action)))
            .build()
    }

    pub fn from_value(value: Value) -> Result<Self, DecodeError> {
        let mut r = RecordReader::new("Command", value)?;
        let command_id = r.string("command_id")?;
        let issued_at = r.timestamp_millis("issued_at")?;
        let issuer = r.string("issuer")?;
        let (index, inner) = r.union("command")?;
        let action = match index {
            0 => {
                let mut m = RecordReader::new("SendMessage", inner)?;
                Action::SendMessage(SendMessage {
                    from_account: m.string("from_account")?,
                    to_account: m.string("to_account")?,
                    msg_body: m.string("msg_body")?,
                    cloud_custom_data: m.string("cloud_custom_data")?,
                    sync_other_machine: m.boolean("sync_other_machine")?,
                    lifetime_seconds: m.int("lifetime_seconds")?,
                    offline_push_info: m.optional_string("offline_push_info")?,
                    need_read_receipt: m.boolean("need_read_receipt")?,
                    check_permissions: m.boolean("check_permissions")?,
                })
            }
            1 => {
                let mut n = RecordReader::new("SendSystemNotification", inner)?;
                Action::SendSystemNotification(SendSystemNotification {
                    from_account: n.optional_string("from_account")?,
                    to_account: n.string("to_account")?,
                    kind: n.string("kind")?,
                    text: n.string("text")?,
                    data: n.string("data")?,
                    lifetime_seconds: n.int("lifetime_seconds")?,
                    offline_push_info: n.optional_string("offline_push_info")?,
                })
            }
            2 => {
                let mut b = RecordReader::new("BatchSend", inner)?;
                Action::BatchSend(BatchSend {
                    from_account: b.string("from_account")?,
                    to_accounts: b
                        .array("to_accounts")?
                        .into_iter()
                        .map(|v| match v {
                            Value::String(s) => Ok(s),
                            _ => Err(DecodeError::Shape(
                                "BatchSend.to_accounts: expected strings".into(),
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                    msg_body: b.string("msg_body")?,
                    cloud_custom_data: b.string("cloud_custom_data")?,
                    sync_other_machine: b.boolean("sync_other_machine")?,
                    lifetime_seconds: b.int("lifetime_seconds")?,
                    offline_push_info: b.optional_string("offline_push_info")?,
                })
            }
            3 | 4 => {
                let mut f = RecordReader::new("FriendPair", inner)?;
                let pair = FriendPair {
                    user_id: f.string("user_id")?,
                    friend_id: f.string("friend_id")?,
                    both: f.boolean("both")?,
                };
                if index == 3 {
                    Action::FriendAdd(pair)
                } else {
                    Action::FriendDelete(pair)
                }
            }
            5 | 6 => {
                let mut b = RecordReader::new("BlockPair", inner)?;
                let pair = BlockPair {
                    user_id: b.string("user_id")?,
                    blocked_id: b.string("blocked_id")?,
                };
                if index == 5 {
                    Action::BlockAdd(pair)
                } else {
                    Action::BlockRemove(pair)
                }
            }
            other => return Err(DecodeError::Shape(format!("unknown command kind #{other}"))),
        };
        Ok(Self {
            command_id,
            issued_at,
            issuer,
            action,
        })
    }
}

/// Encodes and decodes commands (single-object encoding).
pub struct CommandCodec {
    schema: &'static Schema,
    /// The schema resolved once (see `codec::BodyReader`).
    reader: crate::codec::BodyReader,
    preflight: crate::preflight::Preflight<'static>,
    fingerprint: [u8; 8],
}

impl CommandCodec {
    pub fn get() -> &'static CommandCodec {
        static CODEC: OnceLock<CommandCodec> = OnceLock::new();
        CODEC.get_or_init(|| {
            // Same allocation bound as the event codec.
            let _ = crate::EventCodec::get();
            // Leaked once per process, so the preflight pass can borrow it.
            let schema: &'static Schema = Box::leak(Box::new(
                Schema::parse_str(COMMANDS_SCHEMA_JSON)
                    .expect("commands.avsc is a valid Avro schema"),
            ));
            CommandCodec {
                schema,
                reader: crate::codec::BodyReader::new(schema),
                preflight: crate::preflight::Preflight::new(schema),
                fingerprint: fingerprint_of(schema),
            }
        })
    }

    pub fn schema(&self) -> &Schema {
        self.schema
    }

    pub fn fingerprint(&self) -> [u8; 8] {
        self.fingerprint
    }

    pub fn encode(&self, command: &Command) -> Vec<u8> {
        let body = to_avro_datum(self.schema, command.to_value())
            .expect("a Command always matches its schema");
        let mut out = Vec::with_capacity(10 + body.len());
        out.extend_from_slice(&SINGLE_OBJECT_MAGIC);
        out.extend_from_slice(&self.fingerprint);
        out.extend_from_slice(&body);
        out
    }

    /// Decodes a command in either framing (single-object, or Confluent
    /// with an id among `ids`).
    pub fn decode_framed(&self, bytes: &[u8], ids: &SchemaIds) -> Result<Command, DecodeError> {
        let (fingerprint, body) = split(bytes, ids)?;
        self.decode_body(&fingerprint, body)
    }

    /// Encodes a command in the Confluent wire format.
    pub fn encode_confluent(&self, command: &Command, schema_id: u32) -> Vec<u8> {
        let mut out = confluent_header(schema_id).to_vec();
        out.extend_from_slice(
            &to_avro_datum(self.schema, command.to_value())
                .expect("a Command always matches its schema"),
        );
        out
    }

    pub fn decode(&self, bytes: &[u8]) -> Result<Command, DecodeError> {
        if bytes.len() < 10 {
            return Err(DecodeError::Header(format!(
                "record is {} bytes, shorter than the 10-byte single-object header",
                bytes.len()
            )));
        }
        if bytes[..2] != SINGLE_OBJECT_MAGIC {
            return Err(DecodeError::Header(format!(
                "record starts with {:02X} {:02X}, not the single-object marker C3 01",
                bytes[0], bytes[1]
            )));
        }
        let fingerprint: [u8; 8] = bytes[2..10].try_into().expect("8 bytes");
        self.decode_body(&fingerprint, &bytes[10..])
    }

    pub fn decode_body(&self, fingerprint: &[u8; 8], body: &[u8]) -> Result<Command, DecodeError> {
        if *fingerprint != self.fingerprint {
            return Err(DecodeError::UnknownSchema {
                fingerprint: hex_lower(fingerprint),
                known: format!("commands v1 {}", hex_lower(&self.fingerprint)),
            });
        }
        self.preflight.check(body).map_err(DecodeError::Avro)?;
        let mut rest = body;
        let value = self.reader.read(&mut rest)?;
        if !rest.is_empty() {
            return Err(DecodeError::TrailingBytes(rest.len()));
        }
        Command::from_value(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let codec = CommandCodec::get();
        let actions = vec![
            Action::SendMessage(SendMessage::text("alice", "bob", "hi")),
            Action::SendSystemNotification(SendSystemNotification {
                from_account: None,
                to_account: "bob".into(),
                kind: "shop.order_shipped".into(),
                text: "Your order shipped".into(),
                data: "{\"order\":42}".into(),
                lifetime_seconds: 0,
                offline_push_info: Some("{\"Title\":\"Shipped\"}".into()),
            }),
            Action::BatchSend(BatchSend {
                from_account: "shop".into(),
                to_accounts: vec!["a".into(), "b".into()],
                msg_body: "[]".into(),
                cloud_custom_data: "x".into(),
                sync_other_machine: false,
                lifetime_seconds: 60,
                offline_push_info: None,
            }),
            Action::FriendAdd(FriendPair {
                user_id: "a".into(),
                friend_id: "b".into(),
                both: true,
            }),
            Action::FriendDelete(FriendPair {
                user_id: "a".into(),
                friend_id: "b".into(),
                both: false,
            }),
            Action::BlockAdd(BlockPair {
                user_id: "a".into(),
                blocked_id: "b".into(),
            }),
            Action::BlockRemove(BlockPair {
                user_id: "a".into(),
                blocked_id: "b".into(),
            }),
        ];
        for action in actions {
            let c = Command {
                command_id: format!("cmd-{}", action.kind()),
                issued_at: 1_700_000_000_000,
                issuer: "billing".into(),
                action,
            };
            assert_eq!(codec.decode(&codec.encode(&c)).unwrap(), c);
        }
    }
}
