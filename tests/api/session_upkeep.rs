//! The delivery instance's upkeep of its sessions (`delivery/src/upkeep.rs`):
//! presence heartbeats, and the check of every session against its user's
//! newest inbox cursor, for all sessions a slice at a time; on a short
//! period here.

use crate::support;

use missive_core::time;
use support::TestApp;

const PERIOD_MS: u64 = 300;

async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| c.delivery.upkeep_period_ms = PERIOD_MS).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn heartbeats_refresh_presence_rewrite_a_lost_row_and_never_revive_a_session_that_left() {
    let app = spawn().await;
    let mut ann = app.ws("ann", "phone").await;
    ann.next_of("sync_done").await;
    let mut ben = app.ws("ben", "tablet").await;
    ben.next_of("sync_done").await;

    // ann's heartbeat is old; ben's row is gone (as if his login's write had
    // failed). Both sessions are still here: both rows come back fresh.
    let since = time::now_millis();
    app.pg
        .batch_execute(
            "UPDATE presence SET heartbeat_at_ms = 0 WHERE user_id = 'ann';
             DELETE FROM presence WHERE user_id = 'ben'",
        )
        .await
        .unwrap();
    app.wait_for_count(
        &format!(
            "SELECT count(*) FROM presence WHERE user_id IN ('ann', 'ben') AND heartbeat_at_ms >= {since}"
        ),
        2,
    )
    .await;

    // ann leaves: her row goes, and no later heartbeat writes it again.
    drop(ann);
    app.wait_for_count("SELECT count(*) FROM presence WHERE user_id = 'ann'", 0)
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(4 * PERIOD_MS)).await;
    assert_eq!(
        app.scalar("SELECT count(*) FROM presence WHERE user_id = 'ann'")
            .await,
        0,
        "a session that left was marked online again"
    );
    drop(ben);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_entry_committed_without_a_wake_up_reaches_the_session_within_a_period() {
    let app = spawn().await;
    // carol is offline: the message waits in her inbox.
    app.send_text("alice", "carol", 1, "for carol").await;
    app.wait_projected().await;
    let mut bob = app.ws("bob", "phone").await;
    bob.next_of("sync_done").await;

    // An entry for bob committed with no notification and no hand-over, as
    // when the projector's notification after its commit is lost: only the
    // upkeep's check finds bob behind and wakes him.
    app.pg
        .batch_execute(
            "INSERT INTO inbox_cursors (user_id, last_cursor) VALUES ('bob', 1)
                 ON CONFLICT (user_id) DO UPDATE SET last_cursor = inbox_cursors.last_cursor + 1;
             INSERT INTO inbox (user_id, cursor, kind, conversation_id, seq, msg_key, expires_at_ms, reader)
                 SELECT 'bob', (SELECT last_cursor FROM inbox_cursors WHERE user_id = 'bob'),
                        kind, conversation_id, seq, msg_key, expires_at_ms, reader
                 FROM inbox WHERE user_id = 'carol'",
        )
        .await
        .unwrap();
    let m = bob.next_of("message").await;
    assert_eq!(m["body"][0]["MsgContent"]["Text"], "for carol", "{m}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_device_that_logged_in_on_another_instance_since_is_left_to_it() {
    let app = spawn().await;
    let mut dan = app.ws("dan", "phone").await;
    dan.next_of("sync_done").await;
    // dan's phone logged in on another instance since (its login's upsert
    // took the row); this instance's older session of it is still open.
    app.pg
        .batch_execute("UPDATE presence SET instance_id = 'elsewhere' WHERE user_id = 'dan'")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(4 * PERIOD_MS)).await;
    assert_eq!(
        app.scalar(
            "SELECT count(*) FROM presence WHERE user_id = 'dan' AND instance_id = 'elsewhere'"
        )
        .await,
        1,
        "the older session's heartbeat took the row back"
    );
    drop(dan);
    app.stop().await;
}
