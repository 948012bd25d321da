//! The push worker: consumes `<prefix>.events` in its own consumer group and
//! notifies offline recipients through their vendors.
//!
//! Delivery guarantees:
//! - **At most one notification per message per token.** Before a vendor is
//!   called, the (message, token) pair is claimed in `push_sends` with
//!   `INSERT .. ON CONFLICT DO NOTHING`; an event read again (restart,
//!   rebalance, a second instance) finds the claim and sends nothing. A crash
//!   after the claim and before the vendor's answer leaves the claim in
//!   `claimed` and the notification is not retried: a duplicate notification
//!   is visible to the user, a missed one is not (the app syncs the message
//!   when opened), so the window errs on the side of silence.
//! - **Every event is handled before its offset is stored** (librdkafka's
//!   at-least-once pattern: `enable.auto.offset.store=false`, offsets stored
//!   in log order after each event is fully handled, committed by the
//!   auto-commit timer and on shutdown).
//! - Transient vendor failures are retried with exponential backoff; an
//!   invalid token is removed through the log (`PushTokenRemoved`); what
//!   still fails goes to `<prefix>.push.dlq` with the reason in headers.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use futures::{FutureExt, StreamExt, TryStreamExt};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use missive_core::{time, views, Config};
use missive_log::{Actor, DeadLetter, EventAppender};
use missive_schemas::{Event, EventCodec, MessageSent, PushTokenRemovalReason, PushTokenRemoved};

use super::{eligible, Notification, Platform, PushError, Vendors};

#[derive(Debug, thiserror::Error)]
pub enum PushWorkerError {
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Setup(#[from] super::VendorSetupError),
    #[error(transparent)]
    Registry(#[from] missive_core::registry::RegistryError),
}

/// How one (message, token) notification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    InvalidToken,
    Failed,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::InvalidToken => "invalid_token",
            Outcome::Failed => "failed",
        }
    }
}

/// A handling step that could not complete. PostgreSQL or the broker
/// unavailable: the event is tried again, its offset not stored. PostgreSQL
/// refusing an event's values (`db::refuses_values`: U+0000 or an id too
/// long to index): no retry can succeed, so the event is skipped.
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error("PostgreSQL: {0}")]
    Db(String),
    #[error("PostgreSQL refused the event's values: {0}")]
    Refused(String),
    #[error("Kafka: {0}")]
    Kafka(String),
}

impl From<tokio_postgres::Error> for StepError {
    fn from(e: tokio_postgres::Error) -> Self {
        let text = missive_core::db::server_words(&e);
        if missive_core::db::refused_values(&e) {
            StepError::Refused(text)
        } else {
            StepError::Db(text)
        }
    }
}

/// How handling a chunk ended.
enum Handled {
    Done,
    /// Interrupted by shutdown: re-read later.
    Stopped,
    /// PostgreSQL refused a value of the chunk's events.
    Refused(String),
}

impl From<deadpool_postgres::PoolError> for StepError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StepError::Db(e.to_string())
    }
}

struct Shared {
    config: Arc<Config>,
    pool: Pool,
    vendors: Vendors,
    /// Token removals and dead letters, framed as configured.
    appender: EventAppender,
    dlq_topic: String,
    events_topic: String,
    /// Registry ids of the event schemas, to read Confluent-framed records.
    schema_ids: missive_schemas::framing::SchemaIds,
}

/// One notification of a chunk: a message to one of its recipient's tokens.
struct Notice<'a> {
    n: Arc<Notification>,
    m: &'a MessageSent,
    platform: Platform,
    token: &'a str,
}

/// The notifications' keys as four arrays (message, token), for the SQL
/// that takes them side by side.
fn columns<'x>(notices: &'x [Notice<'_>]) -> [Vec<&'x str>; 4] {
    [
        notices
            .iter()
            .map(|x| x.m.conversation_id.as_str())
            .collect(),
        notices.iter().map(|x| x.m.msg_key.as_str()).collect(),
        notices.iter().map(|x| x.platform.as_str()).collect(),
        notices.iter().map(|x| x.token).collect(),
    ]
}

/// The messages' recipients, sorted, each once.
fn distinct_recipients<'m>(messages: &[&'m MessageSent]) -> Vec<&'m str> {
    let mut users: Vec<&str> = messages.iter().map(|m| m.to_account.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    users
}

pub struct PushWorker {
    shared: Arc<Shared>,
    consumer: StreamConsumer,
    /// The consumer's settings, to create it anew after a fatal error.
    settings: rdkafka::ClientConfig,
}

impl PushWorker {
    /// The worker, or `None` when push is disabled or no vendor is configured.
    pub async fn new(
        config: Arc<Config>,
        pool: Pool,
        appender: EventAppender,
    ) -> Result<Option<Self>, PushWorkerError> {
        if !config.push.active() {
            return Ok(None);
        }
        let vendors = Vendors::from_config(&config.push)?;
        Self::with_vendors(config, pool, appender, vendors)
            .await
            .map(Some)
    }

    pub async fn with_vendors(
        config: Arc<Config>,
        pool: Pool,
        appender: EventAppender,
        vendors: Vendors,
    ) -> Result<Self, PushWorkerError> {
        let events_topic = config.events_topic();
        let dlq_topic = config.push_dlq_topic();
        missive_core::kafka::ensure_topics(&config, &[events_topic.clone(), dlq_topic.clone()])
            .await?;
        let mut settings = missive_core::kafka::consumer_config(&config, "push");
        missive_core::kafka::join_group(&config, &mut settings, &config.push_group_id(), "push");
        settings
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            // A new group starts at the beginning; `max_age_seconds` keeps old
            // messages from being pushed.
            .set("auto.offset.reset", "earliest");
        let consumer = missive_core::kafka::subscribed(&settings, &events_topic)?;
        let (_, schema_ids) = missive_core::registry::events_framing(&config).await?;
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                pool,
                vendors,
                appender,
                dlq_topic,
                events_topic,
                schema_ids,
            }),
            consumer,
            settings,
        })
    }

    /// Runs until `shutdown`; events in flight are finished and their
    /// offsets committed before it returns.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let concurrency = self.shared.config.push.concurrency.max(1);
        tracing::info!(group = %self.shared.config.push_group_id(), "push worker consuming");
        // Up to `concurrency` events are handled at once, but completions are
        // taken in log order, so an offset is only ever stored past events
        // that are fully handled.
        let mut inflight = futures::stream::FuturesOrdered::new();
        let mut stopping = false;
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                biased;
                _ = prune.tick(), if !stopping => self.shared.prune().await,
                Some(done) = inflight.next(), if !inflight.is_empty() => {
                    let Ok(Some(handled)) = done else {
                        // Interrupted by shutdown (or a panic): not stored, so re-read later.
                        continue;
                    };
                    for (partition, offset) in handled {
                        // Fails only for a partition revoked meanwhile: its new
                        // owner re-reads the event and finds the claims.
                        if let Err(e) = self.consumer.store_offset(&self.shared.events_topic, partition, offset) {
                            tracing::debug!(error = %e, partition, offset, "offset not stored");
                        }
                    }
                }
                m = self.consumer.recv(), if !stopping && inflight.len() < concurrency => match m {
                    Ok(m) => {
                        // With it, what the consumer holds already (up to
                        // CHUNK_MAX): under load a chunk's reads are shared by
                        // many messages; at a trickle it is one message.
                        let mut chunk = vec![m.detach()];
                        let mut error = None;
                        while chunk.len() < CHUNK_MAX {
                            match self.consumer.recv().now_or_never() {
                                Some(Ok(m)) => chunk.push(m.detach()),
                                Some(Err(e)) => {
                                    error = Some(e);
                                    break;
                                }
                                None => break,
                            }
                        }
                        metrics::histogram!("missive_push_chunk_events").record(chunk.len() as f64);
                        let shared = self.shared.clone();
                        let stop = shutdown.clone();
                        inflight.push_back(tokio::spawn(async move {
                            shared
                                .handle_until_done(&chunk, &stop)
                                .await
                                .then(|| chunk.iter().map(|m| (m.partition(), m.offset())).collect::<Vec<_>>())
                        }));
                        if let Some(e) = error {
                            self.consume_error(e).await;
                        }
                    }
                    Err(e) => self.consume_error(e).await,
                },
                _ = shutdown.cancelled(), if !stopping => stopping = true,
                else => break,
            }
        }
        if let Err(e) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(error = %e, "final offset commit");
        }
        tracing::info!("push worker stopped");
    }

    /// A consume error: logged, and after a fatal one the consumer is made
    /// anew. Events in flight finish; their offsets may not be stored, and
    /// the claims keep a re-read from notifying twice.
    async fn consume_error(&mut self, e: rdkafka::error::KafkaError) {
        if !missive_core::kafka::is_fatal(&e) {
            tracing::warn!(error = %e, "push worker: consume error");
            return;
        }
        tracing::error!(error = %e, "push worker: consumer unusable; creating it anew");
        metrics::counter!("missive_kafka_consumers_recreated_total", "role" => "push").increment(1);
        tokio::time::sleep(Duration::from_secs(1)).await;
        match missive_core::kafka::subscribed(&self.settings, &self.shared.events_topic) {
            Ok(c) => self.consumer = c,
            Err(e) => tracing::error!(error = %e, "push worker: cannot create the consumer"),
        }
    }
}

/// Events handled as one chunk at most.
const CHUNK_MAX: usize = 256;

/// How often old dedupe records are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

impl Shared {
    /// Deletes dedupe records a day older than the oldest pushable event.
    async fn prune(&self) {
        let keep_ms = i64::try_from(self.config.push.max_age_seconds)
            .unwrap_or(i64::MAX / 1000)
            .saturating_add(86_400)
            .saturating_mul(1000);
        let before = time::now_millis().saturating_sub(keep_ms);
        let result = async {
            let client = self.pool.get().await?;
            let stmt = client
                .prepare_cached(include_str!("sql/prune_sends.sql"))
                .await?;
            Ok::<_, StepError>(client.execute(&stmt, &[&before]).await?)
        }
        .await;
        match result {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "old push dedupe records pruned"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot prune push dedupe records"),
        }
    }

    /// Handles a chunk of events, retrying while PostgreSQL or the broker is
    /// down; false when shutdown interrupted it (the events are re-read
    /// later). When PostgreSQL refuses a value of the chunk, its events are
    /// handled one at a time, and only the one it refuses alone is skipped:
    /// one bad event must not hold back every offline push behind it.
    async fn handle_until_done(&self, records: &[OwnedMessage], stop: &CancellationToken) -> bool {
        let reason = match self.handle_retrying(records, stop).await {
            Handled::Done => return true,
            Handled::Stopped => return false,
            Handled::Refused(reason) => reason,
        };
        if records.len() == 1 {
            self.skip_refused(&records[0], &reason);
            return true;
        }
        for record in records {
            match self
                .handle_retrying(std::slice::from_ref(record), stop)
                .await
            {
                Handled::Done => {}
                Handled::Stopped => return false,
                Handled::Refused(reason) => self.skip_refused(record, &reason),
            }
        }
        true
    }

    async fn handle_retrying(&self, records: &[OwnedMessage], stop: &CancellationToken) -> Handled {
        let mut pause = Duration::from_millis(200);
        loop {
            match self.handle(records).await {
                Ok(()) => return Handled::Done,
                Err(StepError::Refused(reason)) => return Handled::Refused(reason),
                Err(e) => {
                    let first = records.first().map(|m| (m.partition(), m.offset()));
                    tracing::warn!(error = %e, ?first, events = records.len(),
                        "push worker: events not handled; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stop.cancelled() => return Handled::Stopped,
                    }
                    pause = (pause * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// An event PostgreSQL refuses is not pushed (the projector dead-letters
    /// it from the views' side); its offset is stored like any other.
    fn skip_refused(&self, record: &OwnedMessage, reason: &str) {
        tracing::error!(partition = record.partition(), offset = record.offset(), %reason,
            "push worker: event refused by PostgreSQL; not pushed");
        metrics::counter!("missive_push_skipped_total", "reason" => "refused").increment(1);
    }

    /// Notifies the offline recipients of a chunk's messages. The reads are
    /// one per chunk, not per message: who of the recipients is online, the
    /// offline ones' tokens, their badges; so are the claims and the
    /// outcomes. Only the vendor calls are one per notification.
    async fn handle(&self, records: &[OwnedMessage]) -> Result<(), StepError> {
        // Undecodable records are the projector's to dead-letter; here they are skipped.
        let envelopes: Vec<_> = records
            .iter()
            .filter_map(|r| {
                EventCodec::get()
                    .decode_framed(r.payload().unwrap_or_default(), &self.schema_ids)
                    .ok()
            })
            .collect();
        let now = time::now_millis();
        let max_age = i64::try_from(self.config.push.max_age_seconds)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        let messages: Vec<&MessageSent> = envelopes
            .iter()
            .filter_map(|env| match &env.event {
                Event::MessageSent(m) => Some(m.as_ref()),
                _ => None,
            })
            .filter(|m| match eligible(m, now, max_age) {
                Ok(()) => true,
                Err(skip) => {
                    metrics::counter!("missive_push_skipped_total", "reason" => skip.label())
                        .increment(1);
                    false
                }
            })
            .collect();
        if messages.is_empty() {
            return Ok(());
        }
        let mut client = self.pool.get().await?;
        let online: HashSet<String> =
            views::presence_of(&client, &distinct_recipients(&messages), now)
                .await?
                .into_iter()
                .map(|(user, _)| user)
                .collect();
        let offline: Vec<&MessageSent> = messages
            .into_iter()
            .filter(|m| {
                let on = online.contains(&m.to_account);
                if on {
                    metrics::counter!("missive_push_skipped_total", "reason" => "online")
                        .increment(1);
                }
                !on
            })
            .collect();
        if offline.is_empty() {
            return Ok(());
        }
        let tokens = self
            .tokens_of(&client, &distinct_recipients(&offline))
            .await?;
        let offline: Vec<(&MessageSent, &[(Platform, String)])> = offline
            .into_iter()
            .filter_map(|m| {
                let t = tokens.get(&m.to_account)?;
                Some((m, t.as_slice()))
            })
            .collect();
        let badged: Vec<&MessageSent> = offline
            .iter()
            .filter(|(m, tokens)| {
                Notification::counts_badge(m)
                    && tokens
                        .iter()
                        .any(|(p, _)| matches!(p, Platform::Apns | Platform::Fcm))
            })
            .map(|(m, _)| *m)
            .collect();
        let badges = self.badges(&mut client, &badged).await?;
        let mut notices = Vec::new();
        for (m, tokens) in offline {
            let mut n = Notification::from_message(m);
            n.badge = badges
                .get(&(m.conversation_id.as_str(), m.msg_key.as_str()))
                .copied();
            let n = Arc::new(n);
            for (platform, token) in tokens {
                notices.push(Notice {
                    n: n.clone(),
                    m,
                    platform: *platform,
                    token,
                });
            }
        }
        let notices = self.claim(&client, notices).await?;
        drop(client);
        if notices.is_empty() {
            return Ok(());
        }
        let concurrency = self.config.push.concurrency.max(1);
        // Futures made first: a closure inside the stream would not be Send.
        let deliveries: Vec<_> = notices.iter().map(|x| self.deliver(x)).collect();
        let outcomes: Vec<(Outcome, u32)> = futures::stream::iter(deliveries)
            .buffered(concurrency)
            .try_collect()
            .await?;
        self.finish(&notices, &outcomes).await
    }

    /// The current tokens of `users` on a configured vendor, by user.
    async fn tokens_of(
        &self,
        client: &deadpool_postgres::Client,
        users: &[&str],
    ) -> Result<HashMap<String, Vec<(Platform, String)>>, StepError> {
        let stmt = client
            .prepare_cached(include_str!("sql/tokens_of.sql"))
            .await?;
        let mut tokens: HashMap<String, Vec<(Platform, String)>> = HashMap::new();
        for row in client.query(&stmt, &[&users]).await? {
            let Some(platform) = Platform::parse(row.get(1)) else {
                continue;
            };
            if self.vendors.get(platform).is_some() {
                tokens
                    .entry(row.get(0))
                    .or_default()
                    .push((platform, row.get(2)));
            }
        }
        Ok(tokens)
    }

    /// Each message's badge: its recipient's unread count, including this
    /// message and the ones before it in the chunk even when the projector
    /// has not stored them yet. All reads see one snapshot: read apart, a
    /// commit between them would count a message twice or not at all.
    async fn badges<'m>(
        &self,
        client: &mut deadpool_postgres::Client,
        messages: &[&'m MessageSent],
    ) -> Result<HashMap<(&'m str, &'m str), i64>, StepError> {
        if messages.is_empty() {
            return Ok(HashMap::new());
        }
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let caps = views::OfflineCaps::from_config(&self.config.views);
        let users = distinct_recipients(messages);
        // Issued together, so tokio-postgres pipelines them on the connection.
        let (unread, stored) = futures::try_join!(
            futures::future::try_join_all(users.iter().map(|u| views::unread_total(&tx, u, caps))),
            futures::future::try_join_all(messages.iter().map(|m| views::message_by_key(
                &tx,
                &m.conversation_id,
                &m.msg_key
            ))),
        )?;
        tx.commit().await?;
        let mut counts: HashMap<&str, i64> = users.into_iter().zip(unread).collect();
        let mut badges = HashMap::new();
        for (m, stored) in messages.iter().zip(stored) {
            let count = counts.entry(m.to_account.as_str()).or_default();
            if stored.is_none() {
                *count += 1;
            }
            badges.insert((m.conversation_id.as_str(), m.msg_key.as_str()), *count);
        }
        Ok(badges)
    }

    /// Claims the notifications before any vendor is called; returns the
    /// ones claimed now, in order (the others were claimed before, or are a
    /// repeat in this chunk, and are not sent).
    async fn claim<'a>(
        &self,
        client: &deadpool_postgres::Client,
        notices: Vec<Notice<'a>>,
    ) -> Result<Vec<Notice<'a>>, StepError> {
        if notices.is_empty() {
            return Ok(notices);
        }
        let stmt = client
            .prepare_cached(include_str!("sql/claim_sends.sql"))
            .await?;
        let [conversations, keys, platforms, tokens] = columns(&notices);
        let rows = client
            .query(
                &stmt,
                &[
                    &conversations,
                    &keys,
                    &platforms,
                    &tokens,
                    &time::now_millis(),
                ],
            )
            .await?;
        let mut claimed: HashSet<(String, String, String, String)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        Ok(notices
            .into_iter()
            .filter(|x| {
                let key = (
                    x.m.conversation_id.clone(),
                    x.m.msg_key.clone(),
                    x.platform.as_str().to_owned(),
                    x.token.to_owned(),
                );
                let now = claimed.remove(&key);
                if !now {
                    metrics::counter!("missive_push_duplicates_total", "vendor" => x.platform.as_str())
                        .increment(1);
                }
                now
            })
            .collect())
    }

    /// Sends one claimed notification with retries; an invalid token is
    /// removed, a notification that still fails goes to the dead-letter topic.
    async fn deliver(&self, x: &Notice<'_>) -> Result<(Outcome, u32), StepError> {
        let (outcome, attempts, last_error) =
            self.send_with_retries(&x.n, x.platform, x.token).await;
        match outcome {
            Outcome::Sent => {}
            Outcome::InvalidToken => {
                self.remove_token(&x.m.to_account, x.platform, x.token)
                    .await?;
            }
            Outcome::Failed => {
                self.dead_letter(&x.n, x.platform, x.token, attempts, &last_error)
                    .await?;
            }
        }
        metrics::counter!("missive_push_notifications_total",
            "vendor" => x.platform.as_str(), "outcome" => outcome.label())
        .increment(1);
        Ok((outcome, attempts))
    }

    /// Records how the claimed notifications ended.
    async fn finish(
        &self,
        notices: &[Notice<'_>],
        outcomes: &[(Outcome, u32)],
    ) -> Result<(), StepError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(include_str!("sql/finish_sends.sql"))
            .await?;
        let [conversations, keys, platforms, tokens] = columns(notices);
        client
            .execute(
                &stmt,
                &[
                    &conversations,
                    &keys,
                    &platforms,
                    &tokens,
                    &outcomes.iter().map(|(o, _)| o.label()).collect::<Vec<_>>(),
                    &outcomes.iter().map(|(_, a)| *a as i32).collect::<Vec<_>>(),
                    &time::now_millis(),
                ],
            )
            .await?;
        Ok(())
    }

    /// Calls the vendor until it accepts, refuses for good, or attempts run out.
    async fn send_with_retries(
        &self,
        n: &Notification,
        platform: Platform,
        token: &str,
    ) -> (Outcome, u32, String) {
        let vendor = self.vendors.get(platform).expect("only configured vendors");
        let push = &self.config.push;
        let max_attempts = push.max_attempts.max(1);
        let mut delay = Duration::from_millis(push.retry_base_ms);
        let max_delay = Duration::from_millis(push.retry_max_ms.max(push.retry_base_ms));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = std::time::Instant::now();
            let result = vendor.send(n, token).await;
            metrics::histogram!("missive_push_request_seconds", "vendor" => platform.as_str())
                .record(started.elapsed().as_secs_f64());
            match result {
                Ok(()) => {
                    metrics::counter!("missive_push_sent_total", "vendor" => platform.as_str())
                        .increment(1);
                    return (Outcome::Sent, attempt, String::new());
                }
                Err(PushError::InvalidToken(reason)) => {
                    tracing::info!(vendor = %platform, %reason, "push token invalid; removing it");
                    metrics::counter!("missive_push_invalid_tokens_total", "vendor" => platform.as_str())
                        .increment(1);
                    return (Outcome::InvalidToken, attempt, reason);
                }
                Err(PushError::Rejected(reason)) => {
                    tracing::warn!(vendor = %platform, %reason, "push refused");
                    metrics::counter!("missive_push_failed_total", "vendor" => platform.as_str())
                        .increment(1);
                    return (Outcome::Failed, attempt, reason);
                }
                Err(PushError::Retryable {
                    reason,
                    retry_after,
                }) => {
                    if attempt >= max_attempts {
                        tracing::warn!(vendor = %platform, %reason, attempts = attempt,
                            "push still failing after its retries");
                        metrics::counter!("missive_push_failed_total", "vendor" => platform.as_str())
                            .increment(1);
                        return (
                            Outcome::Failed,
                            attempt,
                            format!("{reason} (after {attempt} attempts)"),
                        );
                    }
                    metrics::counter!("missive_push_retried_total", "vendor" => platform.as_str())
                        .increment(1);
                    // The vendor's Retry-After wins over our schedule, within the cap.
                    let wait = retry_after.unwrap_or(delay).min(max_delay);
                    tracing::debug!(vendor = %platform, %reason, ?wait, "push retry");
                    tokio::time::sleep(wait).await;
                    delay = (delay * 2).min(max_delay);
                }
            }
        }
    }

    /// A notification that could not be delivered, with the reason.
    async fn dead_letter(
        &self,
        n: &Notification,
        platform: Platform,
        token: &str,
        attempts: u32,
        reason: &str,
    ) -> Result<(), StepError> {
        let payload = json!({
            "conversation_id": n.conversation_id, "msg_key": n.msg_key,
            "to_account": n.to, "platform": platform.as_str(), "token": token,
            "title": n.title, "body": n.body, "ext": n.ext,
            "sent_at_ms": n.sent_at_ms, "expires_at_ms": n.expires_at_ms,
            "attempts": attempts, "reason": reason,
        })
        .to_string();
        let attempts = attempts.to_string();
        let letter = DeadLetter::new(&self.dlq_topic, payload.as_bytes())
            .key(Some(n.msg_key.as_bytes()))
            .header(missive_log::dead_letter::REASON, reason)
            .header("missive.dlq.topic", &self.events_topic)
            .header("missive.push.platform", platform.as_str())
            .header("missive.push.attempts", &attempts);
        self.appender
            .dead_letter(&letter)
            .await
            .map_err(|e| StepError::Kafka(e.to_string()))?;
        metrics::counter!("missive_push_dead_letters_total", "vendor" => platform.as_str())
            .increment(1);
        Ok(())
    }

    /// Removes an invalid token through the log, so the view drops it.
    async fn remove_token(
        &self,
        user: &str,
        platform: Platform,
        token: &str,
    ) -> Result<(), StepError> {
        let event = Event::PushTokenRemoved(PushTokenRemoved {
            user_id: user.to_owned(),
            platform: platform.to_schema(),
            token: token.to_owned(),
            reason: PushTokenRemovalReason::InvalidToken,
        });
        self.appender
            .append_event(&Actor::system("missive.push"), event)
            .await
            .map_err(|e| StepError::Kafka(e.info))?;
        Ok(())
    }
}
