//! The projector keeps its offsets in PostgreSQL, in the same transaction as
//! the rows: a restart resumes exactly where the views are, and undecodable
//! records go to the dead-letter topic without stopping it.

use crate::support;

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};

use support::{read_topic, start_projector, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_projector_resumes_from_the_offsets_in_postgres() {
    let mut app = TestApp::spawn().await;
    for i in 0..5 {
        app.send_text("erin", "frank", 100 + i, &format!("m{i}"))
            .await;
    }
    app.wait_for_count("SELECT count(*) FROM messages", 5).await;
    app.projector.take().unwrap().shutdown().await;

    // Sent while no projector runs: on the log, not yet in the views.
    for i in 5..12 {
        app.send_text("frank", "erin", 100 + i, &format!("m{i}"))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stored = app.scalar("SELECT count(*) FROM messages").await;
    assert_eq!(stored, 5);

    app.projector = Some(start_projector(&app.config).await);
    app.wait_for_count("SELECT count(*) FROM messages", 12)
        .await;
    let seqs: Vec<i64> = app.column("SELECT seq FROM messages ORDER BY seq").await;
    assert_eq!(
        seqs,
        (1..=12).collect::<Vec<_>>(),
        "nothing lost or doubled, seq dense"
    );
    // Offsets and rows agree: every record on the log was consumed once.
    let consumed = app
        .scalar("SELECT sum(next_offset)::bigint FROM projector_offsets")
        .await;
    assert_eq!(consumed, app.events_on_log());
    assert_eq!(consumed, 12);
    // Inbox cursors are dense per user too: both users got every message.
    let rows = app
        .pg
        .query(
            "SELECT user_id, count(*), max(cursor) FROM inbox GROUP BY user_id ORDER BY user_id",
            &[],
        )
        .await
        .unwrap();
    for r in rows {
        let (count, max): (i64, i64) = (r.get(1), r.get(2));
        assert_eq!(count, 12);
        assert_eq!(max, 12);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn undecodable_records_go_to_the_dead_letter_topic_and_projection_goes_on() {
    let app = TestApp::spawn().await;
    let producer: FutureProducer = missive_core::kafka::producer(&app.config).unwrap();
    let topic = app.config.events_topic();
    for (key, payload) in [
        ("x:y", b"not avro at all".to_vec()),
        ("x:y", vec![0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ] {
        producer
            .send(
                FutureRecord::to(&topic).key(key).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    app.send_text("gina", "hank", 1, "after the garbage").await;
    app.wait_for_count("SELECT count(*) FROM messages", 1).await;
    let dlq = read_topic(&app.config, &app.config.events_dlq_topic());
    assert_eq!(dlq.len(), 2, "both bad records are dead-lettered");
    let first = dlq
        .iter()
        .find(|r| r.payload == b"not avro at all")
        .expect("original bytes kept");
    let reason = first.header("missive.dlq.reason").unwrap();
    assert!(reason.contains("single-object"), "{reason}");
    assert_eq!(first.header("missive.dlq.topic"), Some(topic.as_str()));
    assert_eq!(first.key.as_deref(), Some(&b"x:y"[..]));
    assert!(first.header("missive.dlq.offset").is_some());
    let second = dlq
        .iter()
        .find(|r| r.payload != b"not avro at all")
        .unwrap();
    let reason = second.header("missive.dlq.reason").unwrap();
    assert!(reason.contains("unknown schema"), "{reason}");
    // The offsets moved past the bad records: a restart would not re-read them.
    let consumed = app
        .scalar("SELECT sum(next_offset)::bigint FROM projector_offsets")
        .await;
    assert_eq!(consumed, 3);
    let metrics = app.metrics(app.projector.as_ref().unwrap().addr).await;
    assert!(metrics.contains("missive_projector_dead_letters_total"));
    app.stop().await;
}

/// The fence: a batch moves each partition's offset only from the value the
/// projector believes is stored. When another instance got there first (here
/// the stored offset is moved past the next record by hand, as that instance
/// would after projecting it), the batch writes nothing; the projector adopts
/// the stored offset and goes on, so the record is projected once, not twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offset_moved_by_another_instance_fences_the_batch_and_projection_goes_on() {
    let app = TestApp::spawn().await;
    app.send_text("gina", "hank", 1, "first").await;
    app.wait_for_count("SELECT count(*) FROM messages", 1).await;

    let (pg, connection) = tokio_postgres::connect(&app.database_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // One conversation: one partition, the only one with an offset yet.
    let moved = pg
        .execute(
            "UPDATE projector_offsets SET next_offset = next_offset + 1 \
             WHERE topic = $1 AND next_offset > 0",
            &[&app.config.events_topic()],
        )
        .await
        .unwrap();
    assert_eq!(moved, 1);

    app.send_text("gina", "hank", 2, "projected by the other instance")
        .await;
    app.send_text("gina", "hank", 3, "third").await;
    app.wait_projected().await;
    let randoms: Vec<i64> = app
        .column("SELECT msg_random FROM messages ORDER BY seq")
        .await;
    assert_eq!(
        randoms,
        vec![1, 3],
        "the fenced batch wrote nothing; the record after it was projected"
    );
    app.stop().await;
}

/// An app on two partitions whose projector (batches of `batch_max`, one
/// catch-up loop) is stopped, so what is sent next waits on the log.
async fn app_with_projector_stopped(batch_max: usize) -> TestApp {
    let mut app = TestApp::spawn_with(|c| {
        c.kafka.partitions = 2;
        c.projector.batch_max = batch_max;
        c.projector.catch_up_loops = 1;
    })
    .await;
    app.projector.take().unwrap().shutdown().await;
    app
}

/// `count` sends between `users` users named `prefix0`, `prefix1`, ...,
/// each writing to the next few (so many conversations over every
/// partition), 50 at a time; returns the users and the (from, to) indexes.
async fn send_backlog(
    app: &TestApp,
    prefix: &str,
    users: usize,
    count: usize,
) -> (Vec<String>, Vec<(usize, usize)>) {
    let names: Vec<String> = (0..users).map(|i| format!("{prefix}{i}")).collect();
    let sends: Vec<(usize, usize)> = (0..count)
        .map(|i| (i % users, (i % users + 1 + (i / users) % 5) % users))
        .collect();
    for (c, chunk) in sends.chunks(50).enumerate() {
        futures::future::join_all(chunk.iter().enumerate().map(|(j, (a, b))| {
            let random = 1_000 + (c * 50 + j) as u32;
            app.send_text(&names[*a], &names[*b], random, "backlog")
        }))
        .await;
    }
    (names, sends)
}

/// `messages` stored, seqs dense per conversation, cursors dense per user,
/// and every record on the log consumed once.
async fn assert_projected_once(app: &TestApp, messages: i64) {
    assert_eq!(app.scalar("SELECT count(*) FROM messages").await, messages);
    let gaps = "SELECT count(*) FROM (SELECT conversation_id AS k, count(*) AS n, max(seq) AS top \
                FROM messages GROUP BY 1) x WHERE n <> top";
    assert_eq!(app.scalar(gaps).await, 0, "seqs dense per conversation");
    let gaps = "SELECT count(*) FROM (SELECT user_id AS k, count(*) AS n, max(cursor) AS top \
                FROM inbox GROUP BY 1) x WHERE n <> top";
    assert_eq!(app.scalar(gaps).await, 0, "cursors dense per user");
    let consumed = app
        .scalar("SELECT sum(next_offset)::bigint FROM projector_offsets")
        .await;
    assert_eq!(consumed, app.events_on_log());
}

/// Sends `count` more of `sends` and waits for them: every partition is
/// projected again by someone. Then the views equal a rebuild from the log.
async fn assert_later_sends_projected_and_rebuild_equal(
    app: &TestApp,
    users: &[String],
    sends: &[(usize, usize)],
    count: usize,
) {
    let before = app.scalar("SELECT count(*) FROM messages").await;
    for (j, (a, b)) in sends.iter().take(count).enumerate() {
        app.send_text(&users[*a], &users[*b], 50_000 + j as u32, "after")
            .await;
    }
    app.wait_for_count("SELECT count(*) FROM messages", before + count as i64)
        .await;
    app.wait_projected().await;
    let (live, rebuilt) = app.rebuild_digests(5_000).await;
    for (table, l) in &live {
        assert_eq!(
            Some(l),
            rebuilt.get(table),
            "view {table} differs after a rebuild"
        );
    }
}

/// A service's projector that is behind lends partitions to a catch-up loop
/// and takes them back: every event projected once, seqs and cursors dense,
/// the views equal to a rebuild, and a device online meanwhile gets each of
/// its messages once, in cursor order, while two loops write its inbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_projector_behind_catches_up_in_two_loops_and_loses_or_doubles_nothing() {
    let mut app = app_with_projector_stopped(10).await;
    let mut device = app.ws("cu0", "phone").await;
    device.next_of("sync_done").await;

    // A backlog over both partitions.
    let (users, sends) = send_backlog(&app, "cu", 12, 300).await;
    let projector = start_projector(&app.config).await;
    let addr = projector.addr;
    app.projector = Some(projector);
    app.wait_projected().await;

    // The loop was behind and lent a partition.
    let metrics = app.metrics(addr).await;
    let topic = app.config.events_topic();
    let started: f64 = metrics
        .lines()
        .find(|l| l.starts_with("missive_projector_catch_up_loops_total") && l.contains(&topic))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(started >= 1.0, "no catch-up loop started:\n{metrics}");

    assert_projected_once(&app, 300).await;

    // The device got each entry of its inbox (messages to cu0, and cu0's
    // own for its other devices) once, in cursor order.
    let entries = app
        .scalar("SELECT count(*) FROM inbox WHERE user_id = 'cu0'")
        .await;
    assert!(entries >= 25, "{entries} inbox entries");
    for want in 1..=entries {
        let m = device.next_of("message").await;
        assert_eq!(m["cursor"], want);
    }
    device.expect_silence(Duration::from_millis(300)).await;

    // Both partitions are the loop's again.
    assert_later_sends_projected_and_rebuild_equal(&app, &users, &sends, 24).await;
    app.stop().await;
}

/// A second instance joining while the first is catching up takes a
/// partition in a rebalance: the catch-up ends, and whichever of the
/// catch-up loop, the first instance and the second writes a partition after
/// another is fenced. The catch-up loop is held inside its first batch (an
/// advisory lock in a trigger, for its backends only) until the rebalance
/// has happened, so its batch lands after the partition changed hands.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_joining_during_a_catch_up_loses_or_doubles_nothing() {
    let mut app = app_with_projector_stopped(5).await;
    app.pg
        .batch_execute(
            "CREATE FUNCTION hold_catch_up() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF current_setting('application_name') = 'missive-projector-catch-up' THEN
                     PERFORM pg_advisory_xact_lock(4343);
                 END IF;
                 RETURN NULL;
             END $$;
             SELECT pg_advisory_lock(4343);
             CREATE TRIGGER hold BEFORE INSERT ON messages
             FOR EACH STATEMENT EXECUTE FUNCTION hold_catch_up();",
        )
        .await
        .unwrap();
    let (users, sends) = send_backlog(&app, "cj", 16, 400).await;
    let first = start_projector(&app.config).await;
    // The catch-up loop's first batch waits on the lock.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let held = app
            .scalar(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
                 WHERE l.locktype = 'advisory' AND NOT l.granted \
                 AND a.application_name = 'missive-projector-catch-up'",
            )
            .await;
        if held > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no catch-up loop reached the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A second instance joins; the group rebalances (the first hears of it
    // within a heartbeat, 3 s) while the catch-up loop is held.
    let second = start_projector(&app.config).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    app.pg
        .batch_execute("SELECT pg_advisory_unlock(4343); DROP TRIGGER hold ON messages;")
        .await
        .unwrap();
    app.projector = Some(first);
    app.wait_projected().await;

    assert_projected_once(&app, 400).await;
    // Later sends are projected by whichever instance owns each partition.
    assert_later_sends_projected_and_rebuild_equal(&app, &users, &sends, 32).await;
    second.shutdown().await;
    app.stop().await;
}
