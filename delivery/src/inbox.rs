//! Reads of a user's inbox for sync and live push.

use deadpool_postgres::GenericClient;

use missive_core::views::OfflineCaps;

use crate::protocol::{
    HistoryMessage, MessageReceipt, PushedMessage, ReadReceipt, Sender, ServerFrame,
};

/// One inbox entry, ready to send.
pub struct Pushed {
    pub cursor: i64,
    pub frame: ServerFrame,
}

pub const PAGE: i64 = 200;

pub async fn after(
    client: &impl GenericClient,
    user: &str,
    after_cursor: i64,
    now_ms: i64,
    online_since_cursor: i64,
) -> Result<Vec<Pushed>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/inbox_after.sql"))
        .await?;
    let rows = client
        .query(
            &stmt,
            &[&user, &after_cursor, &now_ms, &online_since_cursor, &PAGE],
        )
        .await?;
    Ok(rows.iter().map(|r| pushed(r, user)).collect())
}

/// Entries that waited while the device was offline, within the caps.
pub async fn offline(
    client: &impl GenericClient,
    user: &str,
    after_cursor: i64,
    login_cursor: i64,
    now_ms: i64,
    caps: OfflineCaps,
) -> Result<Vec<Pushed>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/inbox_offline.sql"))
        .await?;
    let rows = client
        .query(
            &stmt,
            &[
                &user,
                &after_cursor,
                &login_cursor,
                &now_ms,
                &caps.conversations,
                &caps.per_conversation,
            ],
        )
        .await?;
    Ok(rows.iter().map(|r| pushed(r, user)).collect())
}

/// One row of `inbox_after.sql` / `inbox_offline.sql` as a frame.
fn pushed(r: &tokio_postgres::Row, user: &str) -> Pushed {
    let cursor: i64 = r.get(0);
    let kind: String = r.get(1);
    let conversation: String = r.get(2);
    let seq: i64 = r.get(3);
    if kind == "read" {
        // The conversation id is the two user ids, sorted, joined by ':'.
        let peer = conversation
            .split(':')
            .find(|u| *u != user)
            .unwrap_or(user)
            .to_owned();
        return Pushed {
            cursor,
            frame: ServerFrame::Read(ReadReceipt {
                cursor,
                conversation,
                peer,
                reader: r.get::<_, Option<String>>(14).unwrap_or_default(),
                read_seq: seq,
            }),
        };
    }
    let from: String = r.get(5);
    let to: String = r.get(6);
    if kind == "receipt" {
        // To the sender: the recipient read one of their messages.
        return Pushed {
            cursor,
            frame: ServerFrame::Receipt(MessageReceipt {
                cursor,
                conversation,
                peer: to,
                reader: r.get::<_, Option<String>>(14).unwrap_or_default(),
                msg_key: r.get(4),
                seq,
            }),
        };
    }
    let peer = if from == user {
        to.clone()
    } else {
        from.clone()
    };
    let sent_at_ms: i64 = r.get(9);
    let message = PushedMessage {
        cursor,
        event: if kind == "message" {
            "new".to_owned()
        } else {
            kind
        },
        conversation,
        peer,
        message: HistoryMessage {
            seq,
            msg_key: r.get(4),
            from,
            to,
            time: sent_at_ms / 1000,
            msg_random: r.get(7),
            msg_seq: r.get(8),
            body: r.get(10),
            cloud_custom_data: r.get(11),
            sender: Sender {
                nickname: r.get(12),
                avatar_url: r.get(13),
            },
            recalled: r.get(15),
            peer_read: r.get(16),
            need_read_receipt: r.get(17),
        },
    };
    Pushed {
        cursor,
        frame: ServerFrame::Message(Box::new(message)),
    }
}

pub async fn last_cursor(
    client: &impl GenericClient,
    user: &str,
) -> Result<i64, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/last_cursor.sql"))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&user])
        .await?
        .map_or(0, |r| r.get(0)))
}
