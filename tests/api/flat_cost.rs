//! A message's cost must not depend on how much is stored (issue #17): on a
//! database prefilled with a few hundred thousand rows, one batch through the
//! real projector, and the reads a send and a push make, must not scan any
//! view table sequentially, and must read only a bounded number of index
//! entries per event (a hash join over a whole index is as bad as a
//! sequential scan). PostgreSQL's own counters (`pg_stat_user_tables`,
//! `pg_stat_user_indexes`) are the evidence; no timing is asserted.

use crate::support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use missive_core::views::{self, HistoryQuery, OfflineCaps};
use missive_schemas::{
    samples, ConversationRead, Element, Envelope, Event, EventCodec, MessageModified,
    MessageRecalled, TextElem,
};

/// Prefilled history: users `u0` .. `u<USERS-1>`, each writing to its
/// `PEERS` next users, capped at `CONTACTS_MAX` recent contacts each (so
/// every user is at the cap and a new contact prunes). Every table holds
/// far more rows than a batch may read (`assert_flat`'s budget), so a
/// whole-table scan, sequential or through an index, cannot pass.
const MESSAGES: i64 = 300_000;
const USERS: i64 = 20_000;
const PEERS: i64 = 10;
const CONTACTS_MAX: i64 = 10;
/// New messages in the batch under test: `missive replay`'s batch, the
/// largest the projector makes (the larger the batch against the table, the
/// likelier PostgreSQL hashes a whole table instead of probing an index).
const BATCH: i64 = 5_000;

/// Per view table: sequential scans, rows they read, index entries read,
/// rows inserted; summed over its partitions.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Reads {
    seq_scan: i64,
    seq_tup_read: i64,
    idx_tup_read: i64,
    n_tup_ins: i64,
    /// Updates, and those that wrote no index entry (HOT): printed, not asserted.
    n_tup_upd: i64,
    n_tup_hot_upd: i64,
}

async fn table_reads(pg: &tokio_postgres::Client) -> BTreeMap<String, Reads> {
    let rows = pg
        .query(
            "SELECT coalesce(p.relname, t.relname)::text AS tbl,
                    sum(t.seq_scan)::bigint, sum(t.seq_tup_read)::bigint,
                    coalesce(sum((SELECT sum(i.idx_tup_read) FROM pg_stat_user_indexes i
                                  WHERE i.relid = t.relid)), 0)::bigint,
                    sum(t.n_tup_ins)::bigint, sum(t.n_tup_upd)::bigint,
                    sum(t.n_tup_hot_upd)::bigint
             FROM pg_stat_user_tables t
             LEFT JOIN pg_inherits h ON h.inhrelid = t.relid
             LEFT JOIN pg_class p ON p.oid = h.inhparent
             GROUP BY 1",
            &[],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.get(0),
                Reads {
                    seq_scan: r.get(1),
                    seq_tup_read: r.get(2),
                    idx_tup_read: r.get(3),
                    n_tup_ins: r.get(4),
                    n_tup_upd: r.get(5),
                    n_tup_hot_upd: r.get(6),
                },
            )
        })
        .collect()
}

fn delta(
    after: &BTreeMap<String, Reads>,
    before: &BTreeMap<String, Reads>,
) -> Vec<(String, Reads)> {
    after
        .iter()
        .map(|(t, a)| {
            let b = before.get(t).copied().unwrap_or_default();
            (
                t.clone(),
                Reads {
                    seq_scan: a.seq_scan - b.seq_scan,
                    seq_tup_read: a.seq_tup_read - b.seq_tup_read,
                    idx_tup_read: a.idx_tup_read - b.idx_tup_read,
                    n_tup_ins: a.n_tup_ins - b.n_tup_ins,
                    n_tup_upd: a.n_tup_upd - b.n_tup_upd,
                    n_tup_hot_upd: a.n_tup_hot_upd - b.n_tup_hot_upd,
                },
            )
        })
        .collect()
}

/// Tables whose size grows with the data (everything but the projector's
/// offsets, one row per partition, and live presence).
fn grows_with_data(table: &str) -> bool {
    !matches!(table, "projector_offsets" | "refinery_schema_history")
}

/// Fails with every table a workload scanned sequentially, or read more
/// index entries of than `per_event` per event.
fn assert_flat(what: &str, reads: &[(String, Reads)], events: i64, per_event: i64) {
    let offenders: Vec<_> = reads
        .iter()
        .filter(|(t, r)| {
            grows_with_data(t) && (r.seq_scan > 0 || r.idx_tup_read > per_event * events)
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "{what}: tables scanned whole or read past {per_event} index entries per event \
         ({events} events): {offenders:#?}"
    );
}

/// Waits until every backend that worked for the projector has reported
/// its counters (they report on exit), i.e. `messages` shows the inserts.
async fn wait_for_inserts(pg: &tokio_postgres::Client, table: &str, want: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = table_reads(pg)
            .await
            .get(table)
            .copied()
            .unwrap_or_default();
        if got.n_tup_ins >= want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{table} shows {} inserts in the statistics, expected {want}",
            got.n_tup_ins
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn envelope(event: Event, at: i64) -> Envelope {
    samples::admin_envelope(event, "test", at)
}

fn message(from: &str, to: &str, key: String, at: i64) -> Envelope {
    let text = "a message of the batch under test";
    envelope(
        Event::MessageSent(Box::new(samples::text(&key, from, to, text, at))),
        at,
    )
}

/// Drops the test's database (a few hundred MB) even when an assertion fails.
struct DropDatabase(String);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let db = std::mem::take(&mut self.0);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let admin = missive_core::Config::load().unwrap().database_url;
                let _ = missive_core::db::drop_database(&admin, &db).await;
            })
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_and_its_reads_cost_the_same_on_a_large_database() {
    let (mut config, db) = support::test_config().await;
    let _cleanup = DropDatabase(db);
    config.views.recent_contacts_max = CONTACTS_MAX;
    config.projector.batch_max = BATCH as usize + 100;
    let config = Arc::new(config);
    let pg = missive_core::db::connect(&config.database_url)
        .await
        .unwrap();

    // The stored history, straight into the tables (bench's prefill).
    pg.batch_execute(&format!(
        "BEGIN;
         SELECT set_config('prefill.messages', '{MESSAGES}', false),
                set_config('prefill.users', '{USERS}', false),
                set_config('prefill.peers', '{PEERS}', false),
                set_config('prefill.contacts_max', '{CONTACTS_MAX}', false);
         {}
         COMMIT;
         ANALYZE;",
        include_str!("../../bench/src/sql/prefill.sql")
    ))
    .await
    .unwrap();

    // The batch: new messages in stored conversations and in new ones, retries
    // of stored messages, then reads, recalls and edits of stored messages.
    let now = missive_core::time::now_millis();
    let stored = pg
        .query(
            "SELECT conversation_id, msg_key, from_account, to_account FROM messages
             WHERE seq = 1 ORDER BY msg_key LIMIT 60",
            &[],
        )
        .await
        .unwrap();
    let mut events = Vec::new();
    for i in 0..BATCH {
        let a = (i * 7919) % USERS;
        let b = if i % 2 == 0 {
            (a + 1 + i % PEERS) % USERS // a stored conversation
        } else {
            (a + PEERS + 1 + (i * 104_729) % (USERS - PEERS - 1)) % USERS // a new one
        };
        events.push(message(
            &format!("u{a}"),
            &format!("u{b}"),
            format!("batch_{i}"),
            now + i,
        ));
    }
    for (n, row) in stored.iter().enumerate() {
        let (conv, key, from, to): (String, String, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let at = now + BATCH + n as i64;
        let event = match n % 4 {
            0 => {
                let mut retry = message(&from, &to, key, at);
                if let Event::MessageSent(m) = &mut retry.event {
                    m.conversation_id = conv;
                }
                retry.event
            }
            1 => Event::ConversationRead(ConversationRead {
                conversation_id: conv,
                reader: to.clone(),
                peer: from,
                read_time: at,
            }),
            2 => Event::MessageRecalled(MessageRecalled {
                conversation_id: conv,
                msg_key: key,
                from_account: from,
                to_account: to,
            }),
            _ => Event::MessageModified(MessageModified {
                conversation_id: conv,
                msg_key: key,
                from_account: from,
                to_account: to,
                body: Some(vec![Element::Text(TextElem {
                    text: "edited".into(),
                })]),
                cloud_custom_data: None,
            }),
        };
        events.push(envelope(event, at));
    }
    let total_events = events.len() as i64;

    // The projector owns its partitions before the baseline is taken, so its
    // start-up (and the janitor's first sweep) are in the baseline too.
    let projector = support::start_projector(&config).await;
    let topic = config.events_topic();
    let owned = format!("SELECT count(*) FROM projector_offsets WHERE topic = '{topic}'");
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while pg.query_one(&owned, &[]).await.unwrap().get::<_, i64>(0)
        < i64::from(config.kafka.partitions)
    {
        assert!(tokio::time::Instant::now() < deadline, "projector joins");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    pg.batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    let before = table_reads(&pg).await;

    let producer = missive_core::kafka::producer(&config).unwrap();
    for env in &events {
        let payload = EventCodec::get().encode(env);
        let key = env.event.key();
        // The broker is shared with other runs: a refused send is retried
        // (the producer is idempotent, so a retry never doubles a record).
        for attempt in 1.. {
            let sent = producer
                .send(
                    rdkafka::producer::FutureRecord::to(&topic)
                        .key(&key)
                        .payload(&payload),
                    Duration::from_secs(10),
                )
                .await;
            match sent {
                Ok(_) => break,
                Err((e, _)) if attempt < 5 => {
                    eprintln!("send failed ({e}); retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err((e, _)) => panic!("the broker refuses the batch: {e}"),
            }
        }
    }
    let projected = format!(
        "SELECT COALESCE(sum(next_offset), 0)::bigint FROM projector_offsets WHERE topic = '{topic}'"
    );
    let log = support::log_size(&config, &topic);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while pg
        .query_one(&projected, &[])
        .await
        .unwrap()
        .get::<_, i64>(0)
        < log
    {
        assert!(tokio::time::Instant::now() < deadline, "the batch projects");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Its connections close: their backends report their counters.
    projector.shutdown().await;
    wait_for_inserts(&pg, "messages", before["messages"].n_tup_ins + BATCH).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = table_reads(&pg).await;
    let written = delta(&after, &before);
    eprintln!("projector, {total_events} events: {written:#?}");
    // Each message reads a few index entries per row it writes, and a new
    // contact reads its user's capped contacts (CONTACTS_MAX) to prune.
    assert_flat(
        "the projector's batch",
        &written,
        total_events,
        2 * CONTACTS_MAX + 20,
    );

    // The reads of the hot path, through pooled connections as in the
    // services (statements prepared and cached: past five executions
    // PostgreSQL may switch to a generic plan, so each runs 20 times).
    let pool = missive_core::db::pool(&config.database_url, 1, "missive-test").unwrap();
    let client = pool.get().await.unwrap();
    let caps = OfflineCaps::from_config(&config.views);
    let inbox_after = client
        .prepare_cached(include_str!("../../delivery/src/sql/inbox_after.sql"))
        .await
        .unwrap();
    let before = table_reads(&pg).await;
    let mut reads = 0;
    for (n, env) in events.iter().take(20).enumerate() {
        let Event::MessageSent(m) = &env.event else {
            unreachable!("the batch starts with messages")
        };
        // Ingest, per send.
        views::send_contexts(
            &client,
            &[views::SendKey {
                conversation_id: m.conversation_id.clone(),
                msg_key: m.msg_key.clone(),
                sender: m.from_account.clone(),
                recipient: m.to_account.clone(),
            }],
        )
        .await
        .unwrap();
        // Delivery, per push: the recipient's newest entries, and from the
        // start for a device that was away (one page).
        let cursor = if n % 2 == 0 { 1_000_000 } else { 0 };
        let since: i64 = pg
            .query_one(
                "SELECT last_cursor FROM inbox_cursors WHERE user_id = $1",
                &[&m.to_account],
            )
            .await
            .unwrap()
            .get(0);
        client
            .query(
                &inbox_after,
                &[
                    &m.to_account,
                    &(since - 2).min(cursor),
                    &now,
                    &since,
                    &200i64,
                ],
            )
            .await
            .unwrap();
        // The push worker, per offline recipient; history and recent
        // contacts, per request.
        views::unread_total(&client, &m.to_account, caps)
            .await
            .unwrap();
        views::history_page(
            &client,
            &HistoryQuery {
                conversation_id: &m.conversation_id,
                viewer: &m.to_account,
                min_time_ms: 0,
                max_time_ms: i64::MAX,
                before_seq: i64::MAX,
                limit: 20,
            },
        )
        .await
        .unwrap();
        views::recent_contacts(&client, &m.to_account, 0, 20, caps, true)
            .await
            .unwrap();
        reads += 1;
    }
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    let after = table_reads(&pg).await;
    let read = delta(&after, &before);
    eprintln!("reads, {reads} sends: {read:#?}");
    // Per send: one page of inbox (200) and its messages, recent contacts
    // with their last messages and unread counts (capped), a history page.
    assert_flat("the hot path's reads", &read, reads, 1_000);

    drop(client);
    drop(pool);
    drop(pg);
}
