//! The send probe shared by the sends that arrive together
//! (`ingest/src/actions/send_probes.rs`): sends that arrive while a probe is
//! out wait for it and share the next statement, each gets its own answer,
//! and a send PostgreSQL refuses fails alone.

use std::time::Duration;

use missive_core::views::{SendContext, SendKey};
use missive_core::ErrorCode;
use missive_ingest::actions::send_probes::SendProbes;

use crate::support::TestApp;

fn key(i: usize) -> SendKey {
    SendKey {
        conversation_id: format!("c{i}"),
        msg_key: format!("k{i}"),
        sender: format!("s{i}"),
        recipient: format!("r{i}"),
    }
}

/// Holds `blocks` exclusively in a transaction of its own, so every probe
/// waits at it until `release`.
struct Held(tokio_postgres::Client);

impl Held {
    async fn take(app: &TestApp) -> Self {
        let client = missive_core::db::connect(&app.config.database_url)
            .await
            .unwrap();
        client
            .batch_execute("BEGIN; LOCK TABLE blocks IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
        Self(client)
    }

    async fn release(self) {
        self.0.batch_execute("COMMIT").await.unwrap();
    }
}

/// Backends of this test's database running a probe statement that waits
/// for a lock.
async fn probes_waiting(app: &TestApp) -> i64 {
    app.scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock' \
           AND query LIKE '%Everything the sends%'",
    )
    .await
}

async fn until_probes_waiting(app: &TestApp, want: i64) {
    for _ in 0..500 {
        if probes_waiting(app).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never {want} probe statement(s) waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sends_arriving_while_a_probe_is_out_share_the_next_and_each_gets_its_own_answer() {
    let app = TestApp::without_services(|_| {}).await;
    // Forty sends s{i} → r{i}, each standing differently: the recipient
    // blocks the sender; friends both ways; the sender has a profile and is
    // imported; a retry of a stored message; the sender is deleted and
    // muted, and blocks the recipient.
    app.pg
        .batch_execute(
            "INSERT INTO blocks (user_id, blocked_id, added_at_ms)
                 SELECT 'r' || i, 's' || i, 1 FROM generate_series(0, 39, 5) i;
             INSERT INTO friends (user_id, friend_id, added_at_ms)
                 SELECT 's' || i, 'r' || i, 1 FROM generate_series(1, 39, 5) i
                 UNION ALL SELECT 'r' || i, 's' || i, 1 FROM generate_series(1, 39, 5) i;
             INSERT INTO profiles (user_id, nickname, avatar_url, imported)
                 SELECT 's' || i, 'nick' || i, 'https://a/' || i, true FROM generate_series(2, 39, 5) i;
             INSERT INTO messages (conversation_id, seq, msg_key, from_account, to_account,
                                   msg_random, msg_seq, sent_at_ms, body, cloud_custom_data,
                                   sender_nickname, sender_avatar_url, hidden_from_sender,
                                   hidden_from_recipient, admin, event_id)
                 SELECT 'c' || i, 1, 'k' || i, 's' || i, 'r' || i, 0, 0, 1000 + i, '[]', '',
                        '', '', false, false, false, gen_random_uuid()
                 FROM generate_series(3, 39, 5) i;
             INSERT INTO account_states (user_id, deleted_at_ms, c2c_muted_until_ms)
                 SELECT 's' || i, 5, 77 FROM generate_series(4, 39, 5) i;
             INSERT INTO blocks (user_id, blocked_id, added_at_ms)
                 SELECT 's' || i, 'r' || i, 1 FROM generate_series(4, 39, 5) i;",
        )
        .await
        .unwrap();
    let probes = SendProbes::new(
        missive_core::db::pool(&app.config.database_url, 8, "missive-test").unwrap(),
    );

    // The first send's probe leaves alone and waits at the lock.
    let held = Held::take(&app).await;
    let first = tokio::spawn({
        let probes = probes.clone();
        async move { probes.probe(key(0)).await }
    });
    until_probes_waiting(&app, 1).await;
    // Thirty-nine more arrive meanwhile: they queue behind it, and no second
    // statement goes out (each took a connection of its own before).
    let rest: Vec<_> = (1..40)
        .map(|i| {
            let probes = probes.clone();
            tokio::spawn(async move { probes.probe(key(i)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(probes_waiting(&app).await, 1, "one statement out");
    assert!(rest.iter().all(|r| !r.is_finished()));
    held.release().await;

    let mut answers = vec![first.await.unwrap().unwrap()];
    for r in rest {
        answers.push(r.await.unwrap().unwrap());
    }
    for (i, got) in answers.iter().enumerate() {
        let mut want = SendContext {
            existing_sent_at_ms: None,
            sender: Default::default(),
            relationship: Default::default(),
            sender_account: Default::default(),
            recipient_account: Default::default(),
            sender_muted_until_ms: 0,
        };
        match i % 5 {
            0 => want.relationship.recipient_blocks_sender = true,
            1 => {
                want.relationship.sender_lists_recipient = true;
                want.relationship.recipient_lists_sender = true;
            }
            2 => {
                want.sender.nickname = format!("nick{i}");
                want.sender.avatar_url = format!("https://a/{i}");
                want.sender_account.imported = true;
            }
            3 => want.existing_sent_at_ms = Some(1000 + i as i64),
            _ => {
                want.sender_account.deleted = true;
                want.sender_muted_until_ms = 77;
                want.relationship.sender_blocks_recipient = true;
            }
        }
        assert_eq!(got, &want, "send {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_send_postgresql_refuses_fails_alone_in_a_shared_probe() {
    let app = TestApp::without_services(|_| {}).await;
    app.pg
        .batch_execute(
            "INSERT INTO blocks (user_id, blocked_id, added_at_ms) VALUES ('r2', 's2', 1)",
        )
        .await
        .unwrap();
    let probes = SendProbes::new(
        missive_core::db::pool(&app.config.database_url, 8, "missive-test").unwrap(),
    );
    let held = Held::take(&app).await;
    let spawn = |send: SendKey| {
        let probes = probes.clone();
        tokio::spawn(async move { probes.probe(send).await })
    };
    let first = spawn(key(1));
    until_probes_waiting(&app, 1).await;
    // Queued together for the next statement: a sender id holding U+0000,
    // which PostgreSQL refuses as text (ingest's own parsing refuses it
    // first; a statement must not depend on that), and a good send.
    let hostile = spawn(SendKey {
        sender: "s\u{0}x".into(),
        ..key(3)
    });
    let good = spawn(key(2));
    tokio::time::sleep(Duration::from_millis(100)).await;
    held.release().await;

    assert!(first.await.unwrap().is_ok());
    let refused = hostile.await.unwrap().unwrap_err();
    assert_eq!(refused.code, ErrorCode::ServiceUnavailable);
    let good = good.await.unwrap().expect("the good send is answered");
    assert!(good.relationship.recipient_blocks_sender);
}
