//! The in-process hand-off from the projector to delivery: right after a
//! batch commits, the projector publishes the inbox entries it wrote, and
//! the delivery service of the same process pushes them to its sessions
//! without reading PostgreSQL again (OpenIM's msgtransfer and Tinode's
//! `saveAndBroadcastMessage` do the same). It is only a fast path: the
//! `pg_notify` after each commit still wakes every delivery instance, a
//! session takes an entry only if it continues its cursor and re-reads its
//! inbox otherwise, so a lost or reordered hand-off costs a read, never a
//! message.
//!
//! Feeds are keyed by events topic, so services of different deployments in
//! one process (the integration tests) never see each other's entries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// One inbox entry as committed: enough to build the pushed frame.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEntry {
    pub user: String,
    pub cursor: i64,
    pub message: Arc<LiveMessage>,
}

/// A message as history stores it (`messages` row), shared by the entries
/// of its recipient and its sender.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveMessage {
    pub conversation_id: String,
    pub seq: i64,
    pub msg_key: String,
    pub from: String,
    pub to: String,
    pub sent_at_ms: i64,
    pub msg_random: i64,
    pub msg_seq: i64,
    /// Tencent `MsgBody`, as served.
    pub body: serde_json::Value,
    pub cloud_custom_data: String,
    pub sender_nickname: String,
    pub sender_avatar_url: String,
    /// Sent with `IsNeedReadReceipt`.
    pub need_read_receipt: bool,
}

/// Who receives a topic's committed entries in this process.
pub trait LiveSink: Send + Sync {
    fn deliver(&self, entries: &[LiveEntry]);
}

/// The subscribers of one events topic.
#[derive(Default)]
pub struct Feed {
    sinks: Mutex<Vec<Weak<dyn LiveSink>>>,
}

impl Feed {
    /// The feed of `topic` in this process.
    pub fn for_topic(topic: &str) -> Arc<Feed> {
        static FEEDS: OnceLock<Mutex<HashMap<String, Arc<Feed>>>> = OnceLock::new();
        FEEDS
            .get_or_init(Default::default)
            .lock()
            .expect("feeds lock")
            .entry(topic.to_owned())
            .or_default()
            .clone()
    }

    /// Adds a subscriber for as long as it lives (held weakly).
    pub fn subscribe(&self, sink: &Arc<dyn LiveSink>) {
        self.sinks
            .lock()
            .expect("feed lock")
            .push(Arc::downgrade(sink));
    }

    /// Whether anyone listens: a publisher need not build entries otherwise.
    pub fn has_subscribers(&self) -> bool {
        let mut sinks = self.sinks.lock().expect("feed lock");
        sinks.retain(|s| s.strong_count() > 0);
        !sinks.is_empty()
    }

    pub fn publish(&self, entries: &[LiveEntry]) {
        if entries.is_empty() {
            return;
        }
        let sinks: Vec<Arc<dyn LiveSink>> = self
            .sinks
            .lock()
            .expect("feed lock")
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for sink in sinks {
            sink.deliver(entries);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Mutex<Vec<LiveEntry>>);

    impl LiveSink for Collect {
        fn deliver(&self, entries: &[LiveEntry]) {
            self.0.lock().unwrap().extend_from_slice(entries);
        }
    }

    fn entry(user: &str, cursor: i64) -> LiveEntry {
        LiveEntry {
            user: user.into(),
            cursor,
            message: Arc::new(LiveMessage {
                conversation_id: "a:b".into(),
                seq: 1,
                msg_key: "k".into(),
                from: "a".into(),
                to: "b".into(),
                sent_at_ms: 0,
                msg_random: 0,
                msg_seq: 0,
                body: serde_json::json!([]),
                cloud_custom_data: String::new(),
                sender_nickname: String::new(),
                sender_avatar_url: String::new(),
                need_read_receipt: false,
            }),
        }
    }

    #[test]
    fn entries_reach_the_subscribers_of_their_topic_only_while_they_live() {
        let ours = Feed::for_topic("live-test-ours.events");
        let theirs = Feed::for_topic("live-test-theirs.events");
        assert!(!ours.has_subscribers());
        let sink = Arc::new(Collect(Mutex::new(Vec::new())));
        let as_sink: Arc<dyn LiveSink> = sink.clone();
        Feed::for_topic("live-test-ours.events").subscribe(&as_sink);
        assert!(ours.has_subscribers());
        theirs.publish(&[entry("b", 1)]);
        ours.publish(&[entry("b", 2)]);
        assert_eq!(*sink.0.lock().unwrap(), vec![entry("b", 2)]);
        drop(as_sink);
        drop(sink);
        assert!(!ours.has_subscribers(), "a dropped subscriber is forgotten");
    }
}
