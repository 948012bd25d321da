//! Which users have sessions on this instance, how new inbox entries reach
//! them, and the PostgreSQL `LISTEN` loop that wakes them.
//!
//! Two ways in. A projector in the same process hands over the entries it
//! just committed ([`missive_core::live`]): each session of the user gets
//! them on its queue and pushes one only if it continues the session's
//! cursor. Every projector also notifies `user:cursor` pairs after each
//! commit; a session behind that cursor is woken and reads its inbox from
//! PostgreSQL. A session the hand-off brought there, or whose queue holds
//! that entry already, is not woken, so the live path costs no read.
//! Either way a lost signal delays a push but never loses it (the
//! instance's upkeep checks every session against its user's newest cursor
//! once a period, `upkeep.rs`, and every session re-reads after the
//! listener reconnects).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use secrecy::SecretString;
use tokio::sync::{mpsc, Notify};
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use missive_core::live::{LiveEntry, LiveSink};

/// Entries a session may hold unread; past that it is woken instead and
/// reads its inbox (a slow session never blocks the projector).
const LIVE_QUEUE: usize = 256;
/// Ephemeral frames (typing) a session may hold; past that they are dropped:
/// they are never stored, so nothing is lost that a client relies on.
const SIGNAL_QUEUE: usize = 16;

/// What the hub holds of one session.
struct Handle {
    /// The device it logged in with.
    device: String,
    wake: Arc<Notify>,
    live: mpsc::Sender<LiveEntry>,
    signals: mpsc::Sender<Arc<str>>,
    /// The last cursor the session pushed (or read up to).
    cursor: Arc<AtomicI64>,
    /// The last cursor handed over onto the session's live queue: the
    /// session reaches it without a wake-up (it pushes the entry, or reads
    /// its inbox when the entry does not continue its cursor).
    queued: AtomicI64,
    /// Cancelled to close the session (kick, account deletion).
    closed: CancellationToken,
}

/// (user, device, platform): a session's presence row.
pub type PresenceRow = (String, String, String);

/// Slices of the sessions the upkeep takes one at a time (`upkeep.rs`).
pub const UPKEEP_SLICES: u64 = 15;

pub struct Hub {
    sessions: Mutex<HashMap<String, HashMap<u64, Handle>>>,
    /// Each session's presence row (user, device, platform) by slice (its id
    /// modulo the slices, so sessions that logged in together spread over
    /// them): a slice is read without walking every session under the lock
    /// the live path takes.
    slices: Mutex<Vec<HashMap<u64, PresenceRow>>>,
    next_id: AtomicU64,
}

impl Default for Hub {
    fn default() -> Self {
        Self::with_slices(UPKEEP_SLICES)
    }
}

/// Part of this instance's sessions ([`Hub::slice`]).
#[derive(Debug, Default, PartialEq)]
pub struct Slice {
    /// (user, device, platform), one per device, sorted.
    pub devices: Vec<PresenceRow>,
}

impl Slice {
    /// The users of the slice's devices, sorted, each once.
    pub fn users(&self) -> Vec<&str> {
        let mut users: Vec<&str> = self.devices.iter().map(|d| d.0.as_str()).collect();
        users.dedup();
        users
    }
}

/// Removes its session from the hub when dropped.
pub struct Registration {
    hub: Arc<Hub>,
    user: String,
    id: u64,
    pub wake: Arc<Notify>,
    /// Entries handed over by a projector in this process.
    pub live: mpsc::Receiver<LiveEntry>,
    /// Ephemeral frames to send as they are (typing indicators).
    pub signals: mpsc::Receiver<Arc<str>>,
    /// The session's cursor, as the hub sees it: keep it current.
    pub cursor: Arc<AtomicI64>,
    /// Cancelled when the account's sessions must close (kick, deletion).
    pub closed: CancellationToken,
}

impl Drop for Registration {
    fn drop(&mut self) {
        {
            let mut sessions = self.hub.sessions.lock().expect("hub lock");
            if let Some(devices) = sessions.get_mut(&self.user) {
                devices.remove(&self.id);
                if devices.is_empty() {
                    sessions.remove(&self.user);
                }
            }
        }
        let mut slices = self.hub.slices.lock().expect("hub slices lock");
        let n = slices.len() as u64;
        slices[(self.id % n) as usize].remove(&self.id);
        metrics::gauge!("missive_delivery_sessions").decrement(1.0);
    }
}

impl Hub {
    /// A hub whose sessions the upkeep takes in `slices` slices.
    pub fn with_slices(slices: u64) -> Self {
        Self {
            sessions: Mutex::default(),
            slices: Mutex::new((0..slices.max(1)).map(|_| HashMap::new()).collect()),
            next_id: AtomicU64::new(0),
        }
    }

    /// How many slices [`Hub::slice`] takes.
    pub fn slices(&self) -> u64 {
        self.slices.lock().expect("hub slices lock").len() as u64
    }

    pub fn register(self: &Arc<Self>, user: &str, device: &str, platform: &str) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let wake = Arc::new(Notify::new());
        let cursor = Arc::new(AtomicI64::new(0));
        let (live_tx, live) = mpsc::channel(LIVE_QUEUE);
        let (signals_tx, signals) = mpsc::channel(SIGNAL_QUEUE);
        let closed = CancellationToken::new();
        self.sessions
            .lock()
            .expect("hub lock")
            .entry(user.to_owned())
            .or_default()
            .insert(
                id,
                Handle {
                    device: device.to_owned(),
                    wake: wake.clone(),
                    live: live_tx,
                    signals: signals_tx,
                    cursor: cursor.clone(),
                    queued: AtomicI64::new(0),
                    closed: closed.clone(),
                },
            );
        {
            let mut slices = self.slices.lock().expect("hub slices lock");
            let n = slices.len() as u64;
            slices[(id % n) as usize].insert(
                id,
                (user.to_owned(), device.to_owned(), platform.to_owned()),
            );
        }
        metrics::gauge!("missive_delivery_sessions").increment(1.0);
        Registration {
            hub: self.clone(),
            user: user.to_owned(),
            id,
            wake,
            live,
            signals,
            cursor,
            closed,
        }
    }

    /// The sessions of slice `slice` (of [`Hub::slices`]): their presence
    /// rows, one per device.
    pub fn slice(&self, slice: u64) -> Slice {
        let mut devices: Vec<PresenceRow> = {
            let slices = self.slices.lock().expect("hub slices lock");
            let n = slices.len() as u64;
            slices[(slice % n) as usize].values().cloned().collect()
        };
        devices.sort();
        devices.dedup_by(|a, b| (&a.0, &a.1) == (&b.0, &b.1));
        Slice { devices }
    }

    /// Whether `user` has a session of `device` on this instance.
    pub fn has_device(&self, user: &str, device: &str) -> bool {
        self.sessions
            .lock()
            .expect("hub lock")
            .get(user)
            .is_some_and(|d| d.values().any(|h| h.device == device))
    }

    /// Closes every session of `user` on this instance.
    pub fn close_user(&self, user: &str) {
        if let Some(devices) = self.sessions.lock().expect("hub lock").get(user) {
            for h in devices.values() {
                h.closed.cancel();
            }
        }
    }

    /// A commit reached `user`'s inbox up to `cursor` (`None`: unknown):
    /// wakes the sessions that have neither pushed that far nor got that
    /// far on their live queue. The projector in this process hands its
    /// entries over before it notifies, so the notification of its own
    /// commit wakes (and makes read) no session it reached.
    pub fn wake(&self, user: &str, cursor: Option<i64>) {
        if let Some(devices) = self.sessions.lock().expect("hub lock").get(user) {
            for h in devices.values() {
                let reached = h
                    .cursor
                    .load(Ordering::Acquire)
                    .max(h.queued.load(Ordering::Acquire));
                if cursor.is_none_or(|c| reached < c) {
                    h.wake.notify_one();
                }
            }
        }
    }

    /// Sends the frame `make` builds (JSON text) to every session of `user`
    /// on this instance that has room for it; never stored, so dropped
    /// otherwise. Built only when the user has a session here: every
    /// instance hears every typing notification.
    pub fn signal(&self, user: &str, make: impl FnOnce() -> Arc<str>) {
        if let Some(devices) = self.sessions.lock().expect("hub lock").get(user) {
            let frame = make();
            for h in devices.values() {
                let _ = h.signals.try_send(frame.clone());
            }
        }
    }

    pub fn wake_all(&self) {
        for devices in self.sessions.lock().expect("hub lock").values() {
            for h in devices.values() {
                h.wake.notify_one();
            }
        }
    }
}

impl LiveSink for Hub {
    fn deliver(&self, entries: &[LiveEntry]) {
        let sessions = self.sessions.lock().expect("hub lock");
        for entry in entries {
            let Some(devices) = sessions.get(&entry.user) else {
                continue;
            };
            for h in devices.values() {
                if h.live.try_send(entry.clone()).is_ok() {
                    h.queued.fetch_max(entry.cursor, Ordering::AcqRel);
                } else {
                    // Full: the session reads its inbox instead.
                    h.wake.notify_one();
                }
            }
        }
    }
}

/// A notification's payload: `user:cursor` pairs joined by `,` (user ids
/// never hold a comma; the cursor follows the last colon). A bare user id
/// (an older projector) wakes every session of the user.
fn parse_notification(payload: &str) -> impl Iterator<Item = (&str, Option<i64>)> {
    payload.split(',').filter(|p| !p.is_empty()).map(|pair| {
        match pair.rsplit_once(':').map(|(u, c)| (u, c.parse::<i64>())) {
            Some((user, Ok(cursor))) => (user, Some(cursor)),
            _ => (pair, None),
        }
    })
}

/// The `typing` frame the peer's devices get.
fn typing_frame(typist: &str) -> Arc<str> {
    let frame = crate::protocol::ServerFrame::Typing {
        from: typist.to_owned(),
    };
    serde_json::to_string(&frame)
        .expect("frames serialize")
        .into()
}

/// Listens on `channel` until `shutdown`, reconnecting with backoff.
pub async fn listen(
    hub: Arc<Hub>,
    database_url: SecretString,
    channel: &'static str,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        match listen_once(&hub, &database_url, channel, &shutdown).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "inbox listener lost; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn listen_once(
    hub: &Hub,
    database_url: &SecretString,
    channel: &str,
    shutdown: &CancellationToken,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (client, mut connection) = missive_core::db::pg_config(database_url)?
        .application_name("missive-delivery-listen")
        .connect(NoTls)
        .await?;
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    client.batch_execute(&format!("LISTEN {channel}")).await?;
    // Anything committed while we were not listening: every session re-reads.
    hub.wake_all();
    tracing::info!(%channel, "listening for inbox commits");
    loop {
        tokio::select! {
            payload = rx.recv() => match payload {
                Some(p) => {
                    if let Some(user) = p.strip_prefix(missive_core::views::CLOSE_SESSIONS_PREFIX) {
                        hub.close_user(user);
                    } else if let Some(pair) = p.strip_prefix(missive_core::views::TYPING_PREFIX) {
                        if let Some((typist, peer)) = pair.split_once(',') {
                            hub.signal(peer, || typing_frame(typist));
                        }
                    } else {
                        parse_notification(&p).for_each(|(u, c)| hub.wake(u, c));
                    }
                }
                None => break,
            },
            _ = shutdown.cancelled() => {
                driver.abort();
                return Ok(());
            }
        }
    }
    match driver.await {
        Ok(Err(e)) => Err(e.into()),
        _ => Err("listener connection closed".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_name_users_and_cursors() {
        let got: Vec<_> = parse_notification("alice:12,b:o:b:7,carol").collect();
        assert_eq!(
            got,
            vec![("alice", Some(12)), ("b:o:b", Some(7)), ("carol", None)]
        );
    }

    #[tokio::test]
    async fn only_sessions_behind_the_notified_cursor_are_woken() {
        let hub = Arc::new(Hub::default());
        let ahead = hub.register("bob", "phone", "iOS");
        let behind = hub.register("bob", "phone", "iOS");
        ahead.cursor.store(9, Ordering::Release);
        behind.cursor.store(3, Ordering::Release);
        hub.wake("bob", Some(9));
        assert!(!woke(&ahead));
        assert!(woke(&behind));
        hub.wake("bob", None);
        assert!(woke(&ahead));
    }

    fn entry(user: &str, cursor: i64) -> LiveEntry {
        LiveEntry {
            user: user.into(),
            cursor,
            message: Arc::new(missive_core::live::LiveMessage {
                conversation_id: "a:bob".into(),
                seq: 1,
                msg_key: "k".into(),
                from: "a".into(),
                to: "bob".into(),
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

    fn woke(r: &Registration) -> bool {
        futures::FutureExt::now_or_never(r.wake.notified()).is_some()
    }

    #[tokio::test]
    async fn handed_over_entries_reach_every_session_of_their_user() {
        let hub = Arc::new(Hub::default());
        let mut bob = hub.register("bob", "phone", "iOS");
        let mut carol = hub.register("carol", "phone", "iOS");
        hub.deliver(&[entry("bob", 1), entry("dave", 1)]);
        assert_eq!(bob.live.try_recv().unwrap().cursor, 1);
        assert!(carol.live.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_notification_wakes_no_session_that_has_its_cursor_queued() {
        let hub = Arc::new(Hub::default());
        let bob = hub.register("bob", "phone", "iOS");
        let carol = hub.register("carol", "phone", "iOS");
        // Handed over, not pushed yet: the commit's notification finds bob's
        // entry on his queue and does not make him read it; carol, who got
        // nothing handed over, and a later commit of bob's do wake.
        hub.deliver(&[entry("bob", 1)]);
        hub.wake("bob", Some(1));
        hub.wake("carol", Some(1));
        assert!(!woke(&bob));
        assert!(woke(&carol));
        hub.wake("bob", Some(2));
        assert!(woke(&bob));
    }

    #[tokio::test]
    async fn slices_cover_every_session_once_with_one_presence_row_per_device() {
        // bob's phone twice (a reconnect overlapping the old session).
        let register = |hub: &Arc<Hub>| {
            [
                hub.register("bob", "phone", "iOS"),
                hub.register("bob", "phone", "iOS"),
                hub.register("bob", "web", "Web"),
                hub.register("carol", "phone", "Android"),
            ]
        };
        let hub = Arc::new(Hub::with_slices(3));
        let sessions = register(&hub);
        let slices: Vec<Slice> = (0..3).map(|n| hub.slice(n)).collect();
        // Registration order: ids 0 and 3 in slice 0, 1 in 1, 2 in 2.
        assert_eq!(slices[0].users(), vec!["bob", "carol"]);
        assert_eq!(slices[1].users(), vec!["bob"]);
        let mut devices: Vec<_> = slices.iter().flat_map(|s| s.devices.clone()).collect();
        devices.sort();
        devices.dedup();
        assert_eq!(devices.len(), 3, "{devices:?}");
        // One slice holding both of bob's phone sessions lists the device once.
        let whole = Arc::new(Hub::with_slices(1));
        let _whole_sessions = register(&whole);
        let all = whole.slice(0);
        assert_eq!(
            all.devices,
            vec![
                ("bob".into(), "phone".into(), "iOS".into()),
                ("bob".into(), "web".into(), "Web".into()),
                ("carol".into(), "phone".into(), "Android".into()),
            ]
        );
        assert_eq!(all.users(), vec!["bob", "carol"]);
        assert!(hub.has_device("bob", "web"));
        assert!(!hub.has_device("carol", "web"));
        // A session that ends leaves its slice.
        drop(sessions);
        assert!((0..3).all(|n| hub.slice(n).devices.is_empty()));
    }
}
