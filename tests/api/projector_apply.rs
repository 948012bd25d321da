//! `apply::apply` on its own, against a real PostgreSQL: what it reports
//! about a batch (users woken and their last cursors, messages stored,
//! retries) matches what it wrote.

use crate::support;

use std::collections::BTreeMap;

use missive_projector::apply::{self, Limits};
use missive_schemas::{conversation_id, samples, ConversationRead, Envelope, Event};

fn envelope(event: Event, at: i64) -> Envelope {
    samples::admin_envelope(event, "test", at)
}

fn message(from: &str, to: &str, key: &str, at: i64) -> Envelope {
    envelope(
        Event::MessageSent(Box::new(samples::text(key, from, to, key, at))),
        at,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_reports_the_users_cursors_messages_and_retries_it_wrote() {
    let (config, db) = support::test_config().await;
    let pool = missive_core::db::pool(&config.database_url, 2, "missive-test").unwrap();
    let limits = Limits {
        recent_contacts_max: 100,
    };
    let now = missive_core::time::now_millis();
    let first = vec![
        message("alice", "bob", "k1", now),
        message("alice", "bob", "k2", now + 1),
        message("carol", "bob", "k3", now + 2),
    ];
    // A retry of k1, a new message, a read after it (a second segment), and
    // a message after the read (a third).
    let second = vec![
        message("alice", "bob", "k1", now),
        message("bob", "alice", "k4", now + 3),
        envelope(
            Event::ConversationRead(ConversationRead {
                conversation_id: conversation_id("alice", "bob"),
                reader: "bob".into(),
                peer: "alice".into(),
                read_time: now + 10,
            }),
            now + 10,
        ),
        message("alice", "dave", "k5", now + 11),
    ];
    let mut reported = Vec::new();
    for batch in [&first, &second] {
        let mut client = pool.get().await.unwrap();
        let tx = client.transaction().await.unwrap();
        let applied = apply::apply(&tx, batch, limits, true).await.unwrap();
        tx.commit().await.unwrap();
        reported.push(applied);
    }
    assert_eq!(
        (reported[0].messages, reported[0].duplicates),
        (3, 0),
        "first batch"
    );
    assert_eq!(
        (reported[1].messages, reported[1].duplicates),
        (2, 1),
        "second batch: k1 was a retry"
    );

    let client = pool.get().await.unwrap();
    let stored: BTreeMap<String, i64> = client
        .query("SELECT user_id, last_cursor FROM inbox_cursors", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // First batch: bob's three entries, alice's two (her other devices),
    // carol's one; each user's last cursor is what the batch reports.
    let first_cursors: BTreeMap<String, i64> = [("alice", 2), ("bob", 3), ("carol", 1)]
        .into_iter()
        .map(|(u, c)| (u.to_owned(), c))
        .collect();
    assert_eq!(reported[0].cursors, first_cursors);
    // The messages' entries, handed over in each user's cursor order.
    let handed: Vec<(String, i64, String)> = reported[0]
        .live
        .iter()
        .map(|e| (e.user.clone(), e.cursor, e.message.msg_key.clone()))
        .collect();
    assert_eq!(handed.len(), 6, "{handed:?}");
    assert!(handed
        .windows(2)
        .all(|w| (&w[0].0, w[0].1) < (&w[1].0, w[1].1)));
    assert_eq!(
        handed.iter().filter(|(u, ..)| u == "bob").count(),
        3,
        "{handed:?}"
    );
    // Second batch: k4 (bob and alice), the read (bob and alice), k5 (alice
    // and dave): it reports the users it touched, at their stored cursors.
    let cursors = |pairs: &[(&str, i64)]| -> BTreeMap<String, i64> {
        pairs.iter().map(|(u, c)| ((*u).to_owned(), *c)).collect()
    };
    assert_eq!(
        stored,
        cursors(&[("alice", 5), ("bob", 5), ("carol", 1), ("dave", 1)])
    );
    assert_eq!(
        reported[1].cursors,
        cursors(&[("alice", 5), ("bob", 5), ("dave", 1)])
    );
    // Cursors are dense per user and follow the log: alice's entries are
    // k1, k2 (first batch), then k4, the read, k5.
    let alice: Vec<(i64, String, String)> = client
        .query(
            "SELECT cursor, kind, msg_key FROM inbox WHERE user_id = 'alice' ORDER BY cursor",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let expect: Vec<(i64, String, String)> = [
        (1, "message", "k1"),
        (2, "message", "k2"),
        (3, "message", "k4"),
        (4, "read", ""),
        (5, "message", "k5"),
    ]
    .into_iter()
    .map(|(c, k, m)| (c, k.to_owned(), m.to_owned()))
    .collect();
    assert_eq!(alice, expect);

    drop(client);
    drop(pool);
    let admin = missive_core::Config::load().unwrap().database_url;
    missive_core::db::drop_database(&admin, &db).await.unwrap();
}
