//! The WebSocket device adapter: what a signed-in user may do from a device
//! (the protocol's `send`, `recall`, `read`, `receipt`, `push_token`, `pin`
//! and `delete_conversation` requests), as
//! that user, never the administrator. delivery holds the sessions and
//! calls these; a device's `send` frame carries Tencent `sendmsg` fields,
//! parsed by [`crate::tencent`] like a REST body.

use serde_json::{Map, Value};

use missive_core::msgbody::Sender;
use missive_core::{ApiError, ErrorCode, UserId};
use missive_schemas::Channel;

use crate::actions::send::SendReceipt;
use crate::actions::sessions::SessionChange;
use crate::actions::{user_actor, Actions, Actor};
use crate::tencent::fields::Body;
use crate::tencent::message::parse_message;
use crate::tencent::push_token::parse_token_request;

#[derive(Clone)]
pub struct DeviceActions {
    actions: Actions,
}

fn actor(user: &UserId) -> Actor {
    user_actor(Channel::Websocket, user)
}

impl DeviceActions {
    pub fn new(actions: Actions) -> Self {
        Self { actions }
    }

    /// Whether the broker is reachable, as the events producer sees it.
    pub fn link_health(&self) -> missive_core::kafka::LinkHealth {
        self.actions.link_health()
    }

    /// `msg` holds Tencent `sendmsg` fields; the sender is always `user`.
    /// `client_ip` is the session's peer address (the callbacks' `ClientIP`).
    pub async fn send(
        &self,
        user: &UserId,
        msg: &Map<String, Value>,
        client_ip: Option<&str>,
    ) -> Result<SendReceipt, ApiError> {
        let body = Body::new(msg);
        match body.get("From_Account") {
            None => {}
            Some(Value::String(s)) if user == s.as_str() => {}
            Some(_) => {
                return Err(ApiError::new(
                    ErrorCode::FromAccountInvalid,
                    "a device sends as its logged-in user only; leave From_Account out",
                ))
            }
        }
        let to = body.string(&["To_Account"], ErrorCode::ToAccountInvalid)?;
        let fields = parse_message(&body, Sender::User)?;
        let to = UserId::parse(to, "To_Account", ErrorCode::ToAccountInvalid)?;
        let mut req = fields.request(user.clone(), to);
        req.client_ip = client_ip.map(str::to_owned);
        self.actions.sends.send(&actor(user), req).await
    }

    /// `user`'s session on this device opened or closed: a `SessionChanged`
    /// event, appended under the appender's backpressure rules (refused at
    /// once, never queued, while the log is unavailable).
    pub async fn session_changed(
        &self,
        user: &UserId,
        change: SessionChange,
    ) -> Result<(), ApiError> {
        self.actions
            .record_session(&actor(user), user, change)
            .await
    }

    /// Recalls a message `user` sent to `peer`; answered once the views hold it.
    pub async fn recall(&self, user: &UserId, peer: &str, msg_key: &str) -> Result<(), ApiError> {
        let peer = UserId::parse(peer, "To_Account", ErrorCode::ToAccountInvalid)?;
        self.actions
            .recall(&actor(user), user, &peer, msg_key)
            .await
    }

    /// Registers (or, with `remove`, removes) this device's push token.
    pub async fn push_token(
        &self,
        user: &UserId,
        device: &str,
        platform: &str,
        token: &str,
        remove: bool,
    ) -> Result<(), ApiError> {
        let mut body = Map::new();
        body.insert("From_Account".into(), user.as_str().into());
        body.insert("DeviceId".into(), device.into());
        body.insert("Platform".into(), platform.into());
        body.insert("Token".into(), token.into());
        let req = parse_token_request(&body, !remove)?;
        if remove {
            self.actions.remove_push_token(&actor(user), req).await
        } else {
            self.actions.register_push_token(&actor(user), req).await
        }
    }

    /// `user` has read every message from `peer` up to `seq` (all so far
    /// when absent); answered once unread counts reflect it.
    pub async fn read(&self, user: &UserId, peer: &str, seq: Option<i64>) -> Result<(), ApiError> {
        let peer = UserId::parse(peer, "peer", ErrorCode::ToAccountInvalid)?;
        self.actions
            .mark_read_up_to(&actor(user), user, &peer, seq)
            .await
    }

    /// Pins (or unpins) `user`'s conversation with `peer`; answered once
    /// the recent contacts show it.
    pub async fn pin(&self, user: &UserId, peer: &str, pinned: bool) -> Result<(), ApiError> {
        let peer = UserId::parse(peer, "peer", ErrorCode::ToAccountInvalid)?;
        self.actions
            .pin_conversation(&actor(user), user, &peer, pinned)
            .await
    }

    /// Deletes `user`'s conversation with `peer` from their recent contacts
    /// (with `clear_history`, its messages so far from their history too).
    pub async fn delete_conversation(
        &self,
        user: &UserId,
        peer: &str,
        clear_history: bool,
    ) -> Result<(), ApiError> {
        let peer = UserId::parse(peer, "peer", ErrorCode::ToAccountInvalid)?;
        self.actions
            .delete_conversation(&actor(user), user, &peer, clear_history)
            .await
    }

    /// `user` read the messages `msg_keys` that `peer` sent asking for a
    /// read receipt; answered once the views hold it.
    pub async fn read_receipts(
        &self,
        user: &UserId,
        peer: &str,
        msg_keys: Vec<String>,
    ) -> Result<(), ApiError> {
        let peer = UserId::parse(peer, "peer", ErrorCode::ToAccountInvalid)?;
        self.actions
            .send_read_receipts(&actor(user), user, &peer, msg_keys)
            .await
    }
}
