//! The checks after a round: every acknowledged message is in history and in
//! both parties' inboxes exactly once, in seq order; every device of an
//! online recipient has it exactly once; no token got a notification twice.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::load::{Acked, Device};
use crate::vendor::Pushes;

#[derive(Debug, Default, Clone, Serialize)]
pub struct Findings {
    pub acked: usize,
    /// Stored messages no sender saw acknowledged (a send abandoned at the
    /// deadline, or one whose answer was lost): allowed, never doubled.
    pub stored_unacked: usize,
    /// Acknowledged but missing from history.
    pub lost: usize,
    /// Acknowledged and stored more than once (history, or an inbox).
    pub doubled: usize,
    /// Conversations whose seqs are not 1..n, or whose acknowledged order
    /// differs from seq order.
    pub out_of_order: usize,
    /// Missing from the sender's or the recipient's inbox.
    pub inbox_missing: usize,
    /// (device, message) pairs never received.
    pub device_missing: usize,
    /// (device, message) pairs received more than once.
    pub device_doubled: usize,
    pub pushes: usize,
    /// (token, message) pairs notified more than once.
    pub push_doubled: usize,
    /// Messages to offline recipients that were never pushed: a crash between
    /// the push claim and the vendor's answer drops rather than doubles
    /// (docs/push.md), so this is reported, not a failure.
    pub push_dropped: usize,
    pub examples: Vec<String>,
}

impl Findings {
    pub fn clean(&self) -> bool {
        self.lost == 0
            && self.doubled == 0
            && self.out_of_order == 0
            && self.inbox_missing == 0
            && self.device_missing == 0
            && self.device_doubled == 0
            && self.push_doubled == 0
    }

    fn note(&mut self, what: String) {
        if self.examples.len() < 20 {
            self.examples.push(what);
        }
    }
}

/// Waits (up to `within`) until the projector has stored every acknowledged
/// message, then checks the views.
pub async fn views(
    db: &tokio_postgres::Client,
    acked: &[Acked],
    within: Duration,
) -> anyhow::Result<Findings> {
    let keys: Vec<&str> = acked.iter().map(|a| a.msg_key.as_str()).collect();
    let deadline = Instant::now() + within;
    loop {
        let stored: i64 = db
            .query_one(
                "SELECT count(DISTINCT msg_key) FROM messages WHERE msg_key = ANY($1)",
                &[&keys],
            )
            .await?
            .get(0);
        if stored as usize >= keys.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let mut f = Findings {
        acked: acked.len(),
        ..Findings::default()
    };
    // History: seqs dense from 1, one row per MsgKey, acknowledged order = seq order.
    let rows = db
        .query(
            "SELECT conversation_id, seq, msg_key FROM messages ORDER BY conversation_id, seq",
            &[],
        )
        .await?;
    let mut history: HashMap<String, Vec<(i64, String)>> = HashMap::new();
    for r in rows {
        history
            .entry(r.get(0))
            .or_default()
            .push((r.get(1), r.get(2)));
    }
    let acked_keys: HashSet<&str> = keys.iter().copied().collect();
    let mut stored_keys: HashMap<&str, usize> = HashMap::new();
    for (conv, msgs) in &history {
        for (i, (seq, key)) in msgs.iter().enumerate() {
            if *seq != i as i64 + 1 {
                f.out_of_order += 1;
                f.note(format!("{conv}: seq {seq} at position {}", i + 1));
                break;
            }
            *stored_keys.entry(key.as_str()).or_default() += 1;
        }
    }
    f.stored_unacked = stored_keys
        .keys()
        .filter(|k| !acked_keys.contains(*k))
        .count();
    let mut acked_by_conv: HashMap<String, Vec<&str>> = HashMap::new();
    for a in acked {
        match stored_keys.get(a.msg_key.as_str()) {
            None => {
                f.lost += 1;
                f.note(format!("lost: {} {}→{}", a.msg_key, a.from, a.to));
            }
            Some(&n) if n > 1 => {
                f.doubled += 1;
                f.note(format!("history holds {} {n} times", a.msg_key));
            }
            Some(_) => {}
        }
        acked_by_conv
            .entry(missive_schemas::conversation_id(&a.from, &a.to))
            .or_default()
            .push(&a.msg_key);
    }
    for (conv, keys) in &acked_by_conv {
        let in_seq_order: Vec<&str> = history
            .get(conv)
            .map(|m| {
                m.iter()
                    .map(|(_, k)| k.as_str())
                    .filter(|k| acked_keys.contains(k))
                    .collect()
            })
            .unwrap_or_default();
        if in_seq_order != *keys {
            f.out_of_order += 1;
            f.note(format!("{conv}: seq order differs from acknowledged order"));
        }
    }

    // Inboxes: each message once in the sender's and once in the recipient's.
    let rows = db
        .query(
            "SELECT user_id, msg_key, count(*) FROM inbox WHERE kind = 'message' \
             GROUP BY user_id, msg_key",
            &[],
        )
        .await?;
    let inbox: HashMap<(String, String), i64> = rows
        .into_iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();
    for a in acked {
        for user in [&a.from, &a.to] {
            match inbox.get(&(user.clone(), a.msg_key.clone())) {
                None => {
                    f.inbox_missing += 1;
                    f.note(format!("{user}'s inbox lacks {}", a.msg_key));
                }
                Some(&n) if n > 1 => {
                    f.doubled += 1;
                    f.note(format!("{user}'s inbox holds {} {n} times", a.msg_key));
                }
                Some(_) => {}
            }
        }
    }
    Ok(f)
}

/// Waits (up to `within`) until every device has every acknowledged message
/// to its user, then counts what is missing or doubled.
pub async fn devices(
    f: &mut Findings,
    devices: &[std::sync::Arc<Device>],
    acked: &[Acked],
    within: Duration,
) {
    let mut to_user: HashMap<&str, Vec<&str>> = HashMap::new();
    for a in acked {
        to_user.entry(&a.to).or_default().push(&a.msg_key);
    }
    let missing = |d: &Device| -> usize {
        let log = d.log.lock().expect("device log");
        to_user
            .get(d.user.as_str())
            .map(|keys| {
                keys.iter()
                    .filter(|k| !log.received.contains_key(**k))
                    .count()
            })
            .unwrap_or(0)
    };
    let deadline = Instant::now() + within;
    while devices.iter().any(|d| missing(d) > 0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for d in devices {
        let n = missing(d);
        if n > 0 {
            f.device_missing += n;
            f.note(format!(
                "{}/{} never received {n} messages",
                d.user, d.device
            ));
        }
        let log = d.log.lock().expect("device log");
        for (key, &count) in &log.received {
            if count > 1 {
                f.device_doubled += 1;
                f.note(format!(
                    "{}/{} received {key} {count} times",
                    d.user, d.device
                ));
            }
        }
    }
}

/// Counts doubled notifications, and acknowledged messages to offline
/// recipients (`tokens`: user → token) that were never pushed.
pub fn pushes(
    f: &mut Findings,
    pushes: &Pushes,
    acked: &[Acked],
    tokens: &HashMap<String, String>,
) {
    f.pushes = pushes.by_token_and_key.values().map(|&n| n as usize).sum();
    for ((token, key), &n) in &pushes.by_token_and_key {
        if n > 1 {
            f.push_doubled += 1;
            f.note(format!("token {token} notified of {key} {n} times"));
        }
    }
    for a in acked {
        if let Some(token) = tokens.get(&a.to) {
            if !pushes
                .by_token_and_key
                .contains_key(&(token.clone(), a.msg_key.clone()))
            {
                f.push_dropped += 1;
            }
        }
    }
}
