//! Reads of the views that more than one service serves (REST and WebSocket
//! both read history). The projector alone writes them.

use deadpool_postgres::GenericClient;
use serde_json::Value;

use missive_schemas::SenderProfile;

/// PostgreSQL channel the projector notifies, after each commit, with the ids
/// of the users whose inbox grew; delivery listens on it to push.
pub const INBOX_CHANNEL: &str = "missive_inbox";

/// A message as one side of the conversation sees it in history.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub seq: i64,
    pub msg_key: String,
    pub from_account: String,
    pub to_account: String,
    pub msg_random: i64,
    pub msg_seq: i64,
    pub sent_at_ms: i64,
    /// Tencent `MsgBody`.
    pub body: Value,
    pub cloud_custom_data: String,
    pub sender: SenderProfile,
}

/// Which slice of history to read.
#[derive(Debug, Clone)]
pub struct HistoryQuery<'a> {
    pub conversation_id: &'a str,
    /// Whose view: hidden messages of this side are left out.
    pub viewer: &'a str,
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    /// Only messages with a smaller seq (paging backwards).
    pub before_seq: i64,
    pub limit: i64,
}

pub async fn history_page(
    client: &impl GenericClient,
    q: &HistoryQuery<'_>,
) -> Result<Vec<StoredMessage>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/history_page.sql"))
        .await?;
    let rows = client
        .query(
            &stmt,
            &[
                &q.conversation_id,
                &q.viewer,
                &q.min_time_ms,
                &q.max_time_ms,
                &q.before_seq,
                &q.limit,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| StoredMessage {
            seq: r.get(0),
            msg_key: r.get(1),
            from_account: r.get(2),
            to_account: r.get(3),
            msg_random: r.get(4),
            msg_seq: r.get(5),
            sent_at_ms: r.get(6),
            body: r.get(7),
            cloud_custom_data: r.get(8),
            sender: SenderProfile {
                nickname: r.get(9),
                avatar_url: r.get(10),
            },
        })
        .collect())
}

/// `(seq, sent_at_ms)` of a message already in history.
pub async fn message_by_key(
    client: &impl GenericClient,
    conversation_id: &str,
    msg_key: &str,
) -> Result<Option<(i64, i64)>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/message_by_key.sql"))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&conversation_id, &msg_key])
        .await?
        .map(|r| (r.get(0), r.get(1))))
}

/// The profile stamped on a user's messages; empty when they set none.
pub async fn profile(
    client: &impl GenericClient,
    user_id: &str,
) -> Result<SenderProfile, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(include_str!("sql/profile.sql"))
        .await?;
    Ok(client
        .query_opt(&stmt, &[&user_id])
        .await?
        .map(|r| SenderProfile {
            nickname: r.get(0),
            avatar_url: r.get(1),
        })
        .unwrap_or_default())
}
