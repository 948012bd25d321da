//! A logged-in device's requests (send, history, read, receipt, typing,
//! recall, contacts, pin, delete_conversation),
//! each answered with one frame carrying the request's `id`.

use missive_core::views::{self, HistoryQuery, OfflineCaps};
use missive_core::{ApiError, ErrorCode, UserId};
use serde_json::Value;

use crate::protocol::{ClientFrame, Contact, HistoryMessage, ServerFrame};
use crate::DeliveryState;

/// Messages one history request returns by default, and at most.
const HISTORY_DEFAULT: i64 = 20;
const HISTORY_MAX: i64 = 100;

fn error(id: Option<Value>, e: ApiError) -> ServerFrame {
    ServerFrame::Error {
        id,
        code: e.client_code(),
        info: e.info,
    }
}

pub async fn handle(
    state: &DeliveryState,
    user: &UserId,
    device: &str,
    client_ip: Option<&str>,
    request: ClientFrame,
) -> ServerFrame {
    match request {
        ClientFrame::Send { id, msg } => match async {
            state.limits.check_user(user)?;
            state.actions.send(user, &msg, client_ip).await
        }
        .await
        {
            Ok(r) => ServerFrame::Sent {
                id,
                msg_key: r.msg_key,
                msg_time: r.msg_time,
                msg_seq: r.msg_seq,
                duplicate: r.duplicate,
            },
            Err(e) => error(id, e),
        },
        ClientFrame::Read { id, peer, seq } => match state.actions.read(user, &peer, seq).await {
            Ok(()) => ServerFrame::Ok { id },
            Err(e) => error(id, e),
        },
        ClientFrame::Recall { id, peer, msg_key } => {
            match state.actions.recall(user, &peer, &msg_key).await {
                Ok(()) => ServerFrame::Ok { id },
                Err(e) => error(id, e),
            }
        }
        ClientFrame::PushToken {
            id,
            platform,
            token,
            remove,
        } => match state
            .actions
            .push_token(user, device, &platform, &token, remove)
            .await
        {
            Ok(()) => ServerFrame::Ok { id },
            Err(e) => error(id, e),
        },
        ClientFrame::Receipt { id, peer, msg_keys } => {
            match state.actions.read_receipts(user, &peer, msg_keys).await {
                Ok(()) => ServerFrame::Ok { id },
                Err(e) => error(id, e),
            }
        }
        ClientFrame::Typing { id, peer } => match typing(state, user, &peer).await {
            Ok(()) => ServerFrame::Ok { id },
            Err(e) => error(id, e),
        },
        ClientFrame::Pin { id, peer, pinned } => {
            match state.actions.pin(user, &peer, pinned).await {
                Ok(()) => ServerFrame::Ok { id },
                Err(e) => error(id, e),
            }
        }
        ClientFrame::DeleteConversation {
            id,
            peer,
            clear_history,
        } => match state
            .actions
            .delete_conversation(user, &peer, clear_history)
            .await
        {
            Ok(()) => ServerFrame::Ok { id },
            Err(e) => error(id, e),
        },
        ClientFrame::History {
            id,
            peer,
            before_seq,
            after_seq,
            count,
        } => match history(state, user, &peer, before_seq, after_seq, count).await {
            Ok((messages, complete)) => ServerFrame::History {
                id,
                peer,
                messages,
                complete,
            },
            Err(e) => error(id, e),
        },
        ClientFrame::Contacts {
            id,
            start,
            count,
            messages,
        } => match contacts(state, user, start, count, messages).await {
            Ok(contacts) => ServerFrame::Contacts { id, contacts },
            Err(e) => error(id, e),
        },
        ClientFrame::Ping { id } => ServerFrame::Pong { id },
        ClientFrame::Login { .. } => error(
            None,
            ApiError::new(ErrorCode::InvalidRequest, "already logged in"),
        ),
    }
}

/// Relays "`user` is typing" to `peer`'s online devices on every delivery
/// instance (a notification, like the inbox's): never stored, never on the
/// log, at most once per `TYPING_INTERVAL` per peer. Not to a peer who
/// blocked `user`, who is not told (as a blocked send is not).
async fn typing(state: &DeliveryState, user: &UserId, peer: &str) -> Result<(), ApiError> {
    let peer = UserId::parse(peer, "peer", ErrorCode::ToAccountInvalid)?;
    state.limits.check_typing(user, &peer)?;
    let client = state.pool.get().await.map_err(ApiError::db_unavailable)?;
    let blocked = views::relationships(&client, user, &[peer.as_str()])
        .await
        .map_err(ApiError::db_unavailable)?
        .first()
        .is_some_and(|r| r.recipient_blocks_sender);
    if blocked {
        return Ok(());
    }
    let payload = format!("{}{user},{peer}", views::TYPING_PREFIX);
    client
        .execute(
            "SELECT pg_notify($1, $2)",
            &[&views::INBOX_CHANNEL, &payload],
        )
        .await
        .map_err(ApiError::db_unavailable)?;
    Ok(())
}

fn in_range(name: &str, value: i64, max: i64) -> Result<i64, ApiError> {
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("{name} is {value}; it must be between 1 and {max}"),
        ))
    }
}

async fn history(
    state: &DeliveryState,
    user: &str,
    peer: &str,
    before_seq: Option<i64>,
    after_seq: Option<i64>,
    count: Option<i64>,
) -> Result<(Vec<HistoryMessage>, bool), ApiError> {
    let peer = UserId::parse(peer, "peer", ErrorCode::ToAccountInvalid)?;
    let count = in_range("count", count.unwrap_or(HISTORY_DEFAULT), HISTORY_MAX)?;
    let conversation = missive_schemas::conversation_id(user, &peer);
    let client = state.pool.get().await.map_err(ApiError::db_unavailable)?;
    let mut page = views::history_page(
        &client,
        &HistoryQuery {
            conversation_id: &conversation,
            viewer: user,
            min_time_ms: 0,
            max_time_ms: i64::MAX,
            before_seq: before_seq.unwrap_or(i64::MAX),
            limit: count + 1,
        },
    )
    .await
    .map_err(ApiError::db_unavailable)?;
    let mut complete = page.len() as i64 <= count;
    if let Some(after) = after_seq {
        let before = page.len();
        page.retain(|m| m.seq > after);
        complete |= page.len() < before;
    }
    page.truncate(count as usize);
    Ok((
        page.into_iter().map(HistoryMessage::from).collect(),
        complete,
    ))
}

/// The recent contacts, each with up to `messages` latest messages.
pub async fn contacts(
    state: &DeliveryState,
    user: &str,
    start: Option<i64>,
    count: Option<i64>,
    messages: Option<i64>,
) -> Result<Vec<Contact>, ApiError> {
    let max = state.views.recent_contacts_max.max(1);
    let start = start.unwrap_or(0);
    if !(0..max).contains(&start) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("start is {start}; it must be between 0 and {}", max - 1),
        ));
    }
    let count = in_range("count", count.unwrap_or(max), max)?;
    let messages = match messages.unwrap_or(0) {
        0 => 0,
        n => in_range("messages", n, state.views.recent_messages.max(1))?,
    };
    let client = state.pool.get().await.map_err(ApiError::db_unavailable)?;
    let caps: OfflineCaps = state.offline_caps;
    let list = views::recent_contacts(&client, user, start, count, caps, true)
        .await
        .map_err(ApiError::db_unavailable)?;
    let mut out = Vec::with_capacity(list.len());
    for c in list {
        let latest = if messages > 0 {
            views::history_page(
                &client,
                &HistoryQuery {
                    conversation_id: &c.conversation_id,
                    viewer: user,
                    min_time_ms: 0,
                    max_time_ms: i64::MAX,
                    before_seq: i64::MAX,
                    limit: messages,
                },
            )
            .await
            .map_err(ApiError::db_unavailable)?
        } else {
            Vec::new()
        };
        out.push(Contact {
            peer: c.peer,
            conversation: c.conversation_id,
            last_at_ms: c.last_at_ms,
            last_seq: c.last_seq,
            unread: c.unread,
            pinned: c.pinned,
            last_message: c.last_message.map(HistoryMessage::from),
            messages: latest.into_iter().map(HistoryMessage::from).collect(),
        });
    }
    Ok(out)
}
