//! A digest of every view, table by table, to check that a rebuild from the
//! log gives the same rows as the live views (`missive replay --compare`,
//! and the rebuild tests).

use std::collections::BTreeMap;

/// Each view and the rows that must match between two builds. Inbox cursors
/// are positions in one build's commit order (entries of different
/// conversations may interleave differently), so the inbox is compared by
/// each entry's place within its conversation instead.
const TABLES: &[(&str, &str)] = &[
    (
        "conversations",
        include_str!("sql/digest/conversations.sql"),
    ),
    ("messages", include_str!("sql/digest/messages.sql")),
    ("inbox", include_str!("sql/digest/inbox.sql")),
    (
        "inbox_cursors",
        include_str!("sql/digest/inbox_cursors.sql"),
    ),
    ("read_state", include_str!("sql/digest/read_state.sql")),
    (
        "recent_contacts",
        include_str!("sql/digest/recent_contacts.sql"),
    ),
    (
        "recent_contact_counts",
        include_str!("sql/digest/recent_contact_counts.sql"),
    ),
    (
        "conversation_marks",
        include_str!("sql/digest/conversation_marks.sql"),
    ),
    ("profiles", include_str!("sql/digest/profiles.sql")),
    ("friends", include_str!("sql/digest/friends.sql")),
    ("blocks", include_str!("sql/digest/blocks.sql")),
    (
        "friend_requests",
        include_str!("sql/digest/friend_requests.sql"),
    ),
    ("push_tokens", include_str!("sql/digest/push_tokens.sql")),
    (
        "account_states",
        include_str!("sql/digest/account_states.sql"),
    ),
    (
        "projector_offsets",
        include_str!("sql/digest/projector_offsets.sql"),
    ),
];

/// Row count and md5 of the sorted rows of one view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDigest {
    pub rows: i64,
    pub md5: String,
}

/// The digests of every view; `contacts_max` is the configuration's
/// `views.recent_contacts_max` (the recent contacts a user has).
pub async fn digest(
    client: &tokio_postgres::Client,
    contacts_max: i64,
) -> Result<BTreeMap<&'static str, TableDigest>, tokio_postgres::Error> {
    let mut out = BTreeMap::new();
    for (table, rows_sql) in TABLES {
        let rows_sql = rows_sql.replace(":contacts_max", &contacts_max.max(1).to_string());
        let sql = format!(
            "SELECT count(*), COALESCE(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') \
             FROM ({}) t",
            rows_sql.trim().trim_end_matches(';')
        );
        let row = client.query_one(&sql, &[]).await?;
        out.insert(
            *table,
            TableDigest {
                rows: row.get(0),
                md5: row.get(1),
            },
        );
    }
    Ok(out)
}
