//! The local cache: one SQLite file per user, keyed by conversation and
//! `seq`, so a restarted app shows its history offline and pulls only what
//! it lacks. Calls run on tokio's blocking pool (SQLite is synchronous).

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};

use crate::{Conversation, Message, SdkError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    conversation TEXT NOT NULL,
    seq INTEGER NOT NULL,
    msg_key TEXT NOT NULL,
    peer TEXT NOT NULL,
    from_account TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (conversation, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_key ON messages (conversation, msg_key);
CREATE TABLE IF NOT EXISTS conversations (
    peer TEXT PRIMARY KEY,
    conversation TEXT NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    last_at_ms INTEGER NOT NULL DEFAULT 0,
    unread INTEGER NOT NULL DEFAULT 0,
    peer_read_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS cursors (device TEXT PRIMARY KEY, cursor INTEGER NOT NULL);
-- Pinned conversations (a table of its own, so older caches gain it too).
CREATE TABLE IF NOT EXISTS pins (peer TEXT PRIMARY KEY);
";

#[derive(Clone)]
pub struct Cache {
    conn: Arc<Mutex<Connection>>,
    user: String,
}

impl Cache {
    /// Opens (or creates) the cache at `path` for `user`; `None` keeps it in
    /// memory. A file that belongs to another user is refused: mixing two
    /// users' histories would show one user's messages to the other.
    pub async fn open(path: Option<&Path>, user: &str) -> Result<Self, SdkError> {
        let path = path.map(Path::to_path_buf);
        let owner = user.to_owned();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, SdkError> {
            let conn = match &path {
                Some(p) => Connection::open(p)?,
                None => Connection::open_in_memory()?,
            };
            conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
            conn.execute_batch(SCHEMA)?;
            let stored: Option<String> = conn
                .query_row("SELECT value FROM meta WHERE key = 'user'", [], |r| {
                    r.get(0)
                })
                .optional()?;
            match stored {
                Some(u) if u != owner => {
                    return Err(SdkError::CacheOwner {
                        cache_user: u,
                        user: owner,
                    })
                }
                Some(_) => {}
                None => {
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('user', ?1)",
                        [&owner],
                    )?;
                }
            }
            Ok(conn)
        })
        .await
        .expect("cache task")?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            user: user.to_owned(),
        })
    }

    async fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &str) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, SdkError> {
        let conn = self.conn.clone();
        let user = self.user.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn, &user)
        })
        .await
        .expect("cache task")
        .map_err(SdkError::from)
    }

    /// Stores a message unless its `(conversation, seq)` is already held;
    /// true when it is new. Keeps the conversation's last seq and, for an
    /// incoming message, its unread count.
    pub async fn insert(&self, m: Message, count_unread: bool) -> Result<bool, SdkError> {
        self.with(move |c, user| {
            let json = serde_json::to_string(&m).expect("messages serialize");
            let added = c.execute(
                "INSERT OR IGNORE INTO messages (conversation, seq, msg_key, peer, from_account, json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![m.conversation, m.seq, m.msg_key, m.peer, m.from, json],
            )? == 1;
            let unread = i64::from(added && count_unread && m.from != user);
            c.execute(
                "INSERT INTO conversations (peer, conversation, last_seq, last_at_ms, unread)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (peer) DO UPDATE SET
                   last_seq = max(last_seq, excluded.last_seq),
                   last_at_ms = max(last_at_ms, excluded.last_at_ms),
                   unread = unread + excluded.unread",
                params![m.peer, m.conversation, m.seq, m.time * 1000, unread],
            )?;
            Ok(added)
        })
        .await
    }

    /// Replaces a held message (a recall or an edit), or stores it.
    pub async fn replace(&self, m: Message) -> Result<(), SdkError> {
        self.with(move |c, _| {
            let json = serde_json::to_string(&m).expect("messages serialize");
            c.execute(
                "INSERT INTO messages (conversation, seq, msg_key, peer, from_account, json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (conversation, seq) DO UPDATE SET json = excluded.json",
                params![m.conversation, m.seq, m.msg_key, m.peer, m.from, json],
            )?;
            Ok(())
        })
        .await
    }

    /// Up to `count` held messages with `seq < before`, newest first.
    pub async fn page(
        &self,
        peer: &str,
        before: i64,
        count: i64,
    ) -> Result<Vec<Message>, SdkError> {
        let peer = peer.to_owned();
        self.with(move |c, _| {
            let mut st = c.prepare_cached(
                "SELECT json FROM messages WHERE peer = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
            )?;
            let rows = st.query_map(params![peer, before, count], |r| r.get::<_, String>(0))?;
            rows.map(|r| r.map(|j| serde_json::from_str(&j).expect("cached JSON is ours")))
                .collect()
        })
        .await
    }

    /// The held seqs in `lo..=hi`, ascending.
    pub async fn seqs(&self, peer: &str, lo: i64, hi: i64) -> Result<Vec<i64>, SdkError> {
        let peer = peer.to_owned();
        self.with(move |c, _| {
            let mut st = c.prepare_cached(
                "SELECT seq FROM messages WHERE peer = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq",
            )?;
            let rows = st.query_map(params![peer, lo, hi], |r| r.get(0))?;
            rows.collect()
        })
        .await
    }

    pub async fn seq_of(&self, msg_key: &str) -> Result<Option<i64>, SdkError> {
        let key = msg_key.to_owned();
        self.with(move |c, _| {
            c.query_row("SELECT seq FROM messages WHERE msg_key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
        })
        .await
    }

    /// The newest seq known for the conversation with `peer` (held or announced).
    pub async fn last_seq(&self, peer: &str) -> Result<i64, SdkError> {
        let peer = peer.to_owned();
        self.with(move |c, _| {
            c.query_row(
                "SELECT max(COALESCE((SELECT last_seq FROM conversations WHERE peer = ?1), 0),
                            COALESCE((SELECT max(seq) FROM messages WHERE peer = ?1), 0))",
                [peer],
                |r| r.get(0),
            )
        })
        .await
    }

    /// The server's view of a recent contact (at login and on request).
    pub async fn set_contact(
        &self,
        peer: String,
        conversation: String,
        last_seq: i64,
        last_at_ms: i64,
        unread: i64,
        pinned: bool,
    ) -> Result<(), SdkError> {
        self.with(move |c, _| {
            c.execute(
                "INSERT INTO conversations (peer, conversation, last_seq, last_at_ms, unread)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (peer) DO UPDATE SET
                   last_seq = max(last_seq, excluded.last_seq),
                   last_at_ms = max(last_at_ms, excluded.last_at_ms),
                   unread = excluded.unread",
                params![peer, conversation, last_seq, last_at_ms, unread],
            )?;
            pin(c, &peer, pinned)
        })
        .await
    }

    pub async fn set_pinned(&self, peer: &str, pinned: bool) -> Result<(), SdkError> {
        let peer = peer.to_owned();
        self.with(move |c, _| pin(c, &peer, pinned)).await
    }

    /// The conversation with `peer` was deleted: it leaves the list
    /// (unpinned); with `clear_history`, its held messages go too.
    pub async fn forget(&self, peer: &str, clear_history: bool) -> Result<(), SdkError> {
        let peer = peer.to_owned();
        self.with(move |c, _| {
            c.execute("DELETE FROM conversations WHERE peer = ?1", [&peer])?;
            c.execute("DELETE FROM pins WHERE peer = ?1", [&peer])?;
            if clear_history {
                c.execute("DELETE FROM messages WHERE peer = ?1", [&peer])?;
            }
            Ok(())
        })
        .await
    }

    /// The recipient sent a read receipt for this user's message `msg_key`.
    pub async fn set_message_read(
        &self,
        conversation: &str,
        msg_key: &str,
    ) -> Result<(), SdkError> {
        let (conversation, msg_key) = (conversation.to_owned(), msg_key.to_owned());
        self.with(move |c, _| {
            c.execute(
                "UPDATE messages SET json = json_set(json, '$.peer_read', json('true'))
                 WHERE conversation = ?1 AND msg_key = ?2",
                [&conversation, &msg_key],
            )?;
            Ok(())
        })
        .await
    }

    /// This user read the conversation up to `read_seq` (on any device):
    /// unread = the held messages from the peer after it.
    pub async fn set_read(&self, peer: &str, read_seq: i64) -> Result<(), SdkError> {
        let peer = peer.to_owned();
        self.with(move |c, _| {
            c.execute(
                "UPDATE conversations SET unread = (SELECT count(*) FROM messages
                   WHERE messages.peer = ?1 AND from_account = ?1 AND seq > ?2)
                 WHERE peer = ?1",
                params![peer, read_seq],
            )?;
            Ok(())
        })
        .await
    }

    /// The peer read up to `read_seq` (a read receipt).
    pub async fn set_peer_read(&self, peer: &str, read_seq: i64) -> Result<(), SdkError> {
        let peer = peer.to_owned();
        self.with(move |c, _| {
            c.execute(
                "UPDATE conversations SET peer_read_seq = max(peer_read_seq, ?2) WHERE peer = ?1",
                params![peer, read_seq],
            )?;
            Ok(())
        })
        .await
    }

    /// Conversations, most recently active first, with their last held message.
    pub async fn conversations(&self) -> Result<Vec<Conversation>, SdkError> {
        self.with(|c, _| {
            let mut st = c.prepare_cached(
                "SELECT c.peer, c.conversation, c.last_seq, c.last_at_ms, c.unread, c.peer_read_seq,
                        (SELECT json FROM messages m WHERE m.peer = c.peer ORDER BY seq DESC LIMIT 1),
                        p.peer IS NOT NULL
                 FROM conversations c LEFT JOIN pins p ON p.peer = c.peer
                 ORDER BY p.peer IS NOT NULL DESC, c.last_at_ms DESC, c.peer",
            )?;
            let rows = st.query_map([], |r| {
                let last: Option<String> = r.get(6)?;
                Ok(Conversation {
                    peer: r.get(0)?,
                    conversation: r.get(1)?,
                    last_seq: r.get(2)?,
                    last_at_ms: r.get(3)?,
                    unread: r.get(4)?,
                    peer_read_seq: r.get(5)?,
                    pinned: r.get(7)?,
                    last_message: last
                        .map(|j| serde_json::from_str(&j).expect("cached JSON is ours")),
                })
            })?;
            rows.collect()
        })
        .await
    }

    pub async fn cursor(&self, device: &str) -> Result<Option<i64>, SdkError> {
        let device = device.to_owned();
        self.with(move |c, _| {
            c.query_row(
                "SELECT cursor FROM cursors WHERE device = ?1",
                [device],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    /// Advances (never lowers) the device's sync cursor.
    pub async fn set_cursor(&self, device: &str, cursor: i64) -> Result<(), SdkError> {
        let device = device.to_owned();
        self.with(move |c, _| {
            c.execute(
                "INSERT INTO cursors (device, cursor) VALUES (?1, ?2)
                 ON CONFLICT (device) DO UPDATE SET cursor = max(cursor, excluded.cursor)",
                params![device, cursor],
            )?;
            Ok(())
        })
        .await
    }
}

fn pin(c: &Connection, peer: &str, pinned: bool) -> rusqlite::Result<()> {
    if pinned {
        c.execute("INSERT OR IGNORE INTO pins (peer) VALUES (?1)", [peer])?;
    } else {
        c.execute("DELETE FROM pins WHERE peer = ?1", [peer])?;
    }
    Ok(())
}
