//! Which users have sessions on this instance, and the PostgreSQL `LISTEN`
//! loop that wakes them when the projector commits to their inbox.
//!
//! A notification is only a wake-up: the session then reads its inbox after
//! its cursor, so a lost notification delays a push but never loses it
//! (sessions also re-read on a timer and after the listener reconnects).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use secrecy::SecretString;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub struct Hub {
    sessions: Mutex<HashMap<String, HashMap<u64, Arc<Notify>>>>,
    next_id: AtomicU64,
}

/// Removes its session from the hub when dropped.
pub struct Registration {
    hub: Arc<Hub>,
    user: String,
    id: u64,
    pub wake: Arc<Notify>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut sessions = self.hub.sessions.lock().expect("hub lock");
        if let Some(devices) = sessions.get_mut(&self.user) {
            devices.remove(&self.id);
            if devices.is_empty() {
                sessions.remove(&self.user);
            }
        }
        metrics::gauge!("missive_delivery_sessions").decrement(1.0);
    }
}

impl Hub {
    pub fn register(self: &Arc<Self>, user: &str) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let wake = Arc::new(Notify::new());
        self.sessions
            .lock()
            .expect("hub lock")
            .entry(user.to_owned())
            .or_default()
            .insert(id, wake.clone());
        metrics::gauge!("missive_delivery_sessions").increment(1.0);
        Registration {
            hub: self.clone(),
            user: user.to_owned(),
            id,
            wake,
        }
    }

    pub fn wake(&self, user: &str) {
        if let Some(devices) = self.sessions.lock().expect("hub lock").get(user) {
            for n in devices.values() {
                n.notify_one();
            }
        }
    }

    pub fn wake_all(&self) {
        for devices in self.sessions.lock().expect("hub lock").values() {
            for n in devices.values() {
                n.notify_one();
            }
        }
    }
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
                Some(p) => p.split(',').for_each(|u| hub.wake(u)),
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
