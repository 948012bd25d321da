//! What a signed-in user may do from a device (the WebSocket protocol's
//! requests): send, recall their own messages, report reads. Each goes
//! through the same parsing, validation, permission checks and pipelines as
//! the REST API, with the user (not the administrator) as the actor.

use std::sync::Arc;

use deadpool_postgres::Pool;
use serde_json::{Map, Value};

use missive_core::msgbody::Sender;
use missive_core::{time, views, ApiError, Config, ErrorCode};
use missive_schemas::{conversation_id, Channel};

use crate::appender::EventAppender;
use crate::changes::ChangePipeline;
use crate::push_tokens::{self, TokenRequest};
use crate::rest::db_unavailable;
use crate::rest::fields::Body;
use crate::rest::openim::{mark_read, parse_message, recall};
use crate::send::{check_user_id, Actor, SendPipeline, SendReceipt};

#[derive(Clone)]
pub struct UserActions {
    pool: Pool,
    pipeline: SendPipeline,
    changes: ChangePipeline,
}

fn actor(user: &str) -> Actor {
    Actor {
        channel: Channel::Websocket,
        identifier: user.to_owned(),
        admin: false,
    }
}

impl UserActions {
    pub fn new(config: Arc<Config>, pool: Pool) -> Result<Self, rdkafka::error::KafkaError> {
        let appender = EventAppender::new(&config)?;
        Ok(Self {
            pipeline: SendPipeline::new(config.clone(), pool.clone(), appender.clone()),
            changes: ChangePipeline::new(config, pool.clone(), appender),
            pool,
        })
    }

    /// Whether the broker is reachable, as the events producer sees it.
    pub fn link_health(&self) -> missive_core::kafka::LinkHealth {
        self.pipeline.appender().link_health()
    }

    /// `msg` holds Tencent `sendmsg` fields; the sender is always `user`.
    pub async fn send(
        &self,
        user: &str,
        msg: &Map<String, Value>,
    ) -> Result<SendReceipt, ApiError> {
        let body = Body::new(msg);
        match body.get("From_Account") {
            None => {}
            Some(Value::String(s)) if s == user => {}
            Some(_) => {
                return Err(ApiError::new(
                    ErrorCode::FromAccountInvalid,
                    "a device sends as its logged-in user only; leave From_Account out",
                ))
            }
        }
        let to = body.string(&["To_Account"], ErrorCode::ToAccountInvalid)?;
        let req = parse_message(user.to_owned(), to.to_owned(), &body, Sender::User)?;
        self.pipeline.send(&actor(user), req).await
    }

    /// Recalls a message `user` sent to `peer`; answered once the views hold it.
    pub async fn recall(&self, user: &str, peer: &str, msg_key: &str) -> Result<(), ApiError> {
        recall(&self.changes, &self.pool, &actor(user), user, peer, msg_key).await
    }

    /// Registers (or, with `remove`, removes) this device's push token.
    pub async fn push_token(
        &self,
        user: &str,
        device: &str,
        platform: &str,
        token: &str,
        remove: bool,
    ) -> Result<(), ApiError> {
        let mut body = Map::new();
        body.insert("From_Account".into(), user.into());
        body.insert("DeviceId".into(), device.into());
        body.insert("Platform".into(), platform.into());
        body.insert("Token".into(), token.into());
        let req = TokenRequest::parse(&body, !remove)?;
        if remove {
            push_tokens::unregister(&self.changes, &self.pool, &actor(user), req).await
        } else {
            push_tokens::register(&self.changes, &actor(user), req).await
        }
    }

    /// `user` has read every message from `peer` up to `seq` (all so far
    /// when absent); answered once unread counts reflect it.
    pub async fn read(&self, user: &str, peer: &str, seq: Option<i64>) -> Result<(), ApiError> {
        check_user_id(peer, "peer", ErrorCode::ToAccountInvalid)?;
        let conversation = conversation_id(user, peer);
        let now = time::now_millis();
        let read_time = match seq {
            None => now,
            Some(seq) => {
                let client = self.pool.get().await.map_err(db_unavailable)?;
                let page = views::history_page(
                    &client,
                    &views::HistoryQuery {
                        conversation_id: &conversation,
                        viewer: user,
                        min_time_ms: 0,
                        max_time_ms: i64::MAX,
                        before_seq: seq.saturating_add(1),
                        limit: 1,
                    },
                )
                .await
                .map_err(db_unavailable)?;
                match page.first() {
                    Some(m) if m.seq == seq => m.sent_at_ms,
                    _ => {
                        return Err(ApiError::new(
                            ErrorCode::InvalidRequest,
                            format!("no message with seq {seq} in this conversation"),
                        ))
                    }
                }
            }
        };
        mark_read(&self.changes, &actor(user), user, peer, read_time).await
    }
}
