//! Rebuild = live: every view rebuilt from offset 0 of the log equals the
//! live one row for row (a digest per table), whatever the batch sizes, and
//! after the projector was killed at each stage of a batch.

use crate::support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use support::{unique_name, TestApp, WAIT};
use tokio_util::sync::CancellationToken;

fn text(t: &str) -> Value {
    json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": t}}])
}

/// Sends, batch sends, imports, recalls, edits, reads, pins, marks, profile
/// and relationship changes, several conversations at once (so several
/// partitions and many events per batch). `round` keeps keys unique.
async fn mixed_workload(app: &TestApp, round: u32) -> Vec<(String, String, String)> {
    let users: Vec<String> = (0..8).map(|i| format!("u{i}")).collect();
    if round == 0 {
        let names: Vec<&str> = users.iter().map(String::as_str).collect();
        app.import_accounts(&names).await;
        let r = app
            .rest(
                "sns/black_list_add",
                json!({"From_Account": "u2", "To_Account": ["u3"]}),
            )
            .await;
        assert_eq!(r["ErrorCode"], 0, "{r}");
    }
    let r = app
        .rest(
            "profile/portrait_set",
            json!({"From_Account": "u0", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": format!("zero {round}")}]}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    // Every other round a friend request the target must confirm (pending),
    // else a forced add with the adder's remark and group.
    let r = app
        .rest(
            "sns/friend_add",
            json!({"From_Account": "u0", "AddType": "Add_Type_Both", "ForceAddFlags": (round + 1) % 2,
                   "AddFriendItem": [{"To_Account": format!("u{}", 1 + round % 7), "AddSource": "AddSource_Type_Test",
                                      "Remark": format!("r{round}"), "GroupName": "mates"}]}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    for (api, body) in [
        (
            "profile/portrait_set",
            json!({"From_Account": "u5", "ProfileItem": [
                {"Tag": "Tag_Profile_IM_AllowType", "Value": "AllowType_Type_AllowAny"},
                {"Tag": "Tag_Profile_IM_Level", "Value": round},
                {"Tag": "Tag_Profile_Custom_Hobby", "Value": format!("chess {round}")}]}),
        ),
        (
            "sns/friend_import",
            json!({"From_Account": "u6", "AddFriendItem": [{"To_Account": "u7", "AddSource": "AddSource_Type_Old",
                   "GroupName": ["a", "b"], "AddTime": 1_420_000_000, "CustomItem": [{"Tag": "Tag_SNS_Custom_Rank", "Value": 3}]}]}),
        ),
        (
            "sns/friend_update",
            json!({"From_Account": "u0", "UpdateItem": [{"To_Account": "u1", "SnsItem": [
                {"Tag": "Tag_SNS_IM_Remark", "Value": format!("one {round}")},
                {"Tag": "Tag_SNS_Custom_Rank", "Value": round}]}]}),
        ),
    ] {
        let r = app.rest(api, body).await;
        assert_eq!(r["ErrorCode"], 0, "{api}: {r}");
    }

    // Concurrent sends across many conversations (u3 -> u2 is dropped by the block).
    let sends = (0..24u32).map(|i| {
        let from = format!("u{}", i % 8);
        let to = format!("u{}", (i * 3 + 1 + round) % 8);
        let mut body = json!({"From_Account": from, "To_Account": to,
                              "MsgRandom": round * 1000 + i, "MsgBody": text(&format!("r{round} m{i}"))});
        match i % 6 {
            0 => body["SyncOtherMachine"] = 2.into(),
            1 => body["SyncOtherMachine"] = 1.into(),
            2 => body["MsgLifeTime"] = 0.into(),
            _ => {}
        }
        async move { app.rest("openim/sendmsg", body).await }
    });
    let replies = join_all(sends).await;
    for r in &replies {
        assert_eq!(r["ErrorCode"], 0, "{r}");
    }
    let r = app
        .rest(
            "openim/batchsendmsg",
            json!({"From_Account": "u7", "To_Account": ["u4", "u5", "u6"], "MsgRandom": round + 1,
                   "MsgBody": text("to many")}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    for (mode, random) in [(1, 1), (2, 2)] {
        let r = app
            .rest(
                "openim/importmsg",
                json!({"SyncFromOldSystem": mode, "From_Account": "u5", "To_Account": "u6",
                       "MsgRandom": round * 10 + random, "MsgTimeStamp": missive_core::time::now_secs() as i64 - 3600 + i64::from(round),
                       "MsgBody": text("imported")}),
            )
            .await;
        assert_eq!(r["ErrorCode"], 0, "{r}");
    }
    // A recall, an edit and two reads of messages sent above (which must be
    // in the views first: recall and edit look the message up there).
    wait_for_messages(app, &replies).await;
    let sent = |i: usize| {
        let from = format!("u{}", i % 8);
        let to = format!("u{}", (i as u32 * 3 + 1 + round) % 8);
        (from, to, replies[i]["MsgKey"].as_str().unwrap().to_owned())
    };
    let (from, to, key) = sent(4);
    let r = app
        .rest(
            "openim/admin_msgwithdraw",
            json!({"From_Account": from, "To_Account": to, "MsgKey": key}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let (from, to, key) = sent(5);
    let r = app
        .rest(
            "openim/modify_c2c_msg",
            json!({"From_Account": from, "To_Account": to, "MsgKey": key, "MsgBody": text("edited")}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    for i in [7, 9] {
        let (from, to, _) = sent(i);
        let r = app
            .rest(
                "openim/admin_set_msg_read",
                json!({"Report_Account": to, "Peer_Account": from}),
            )
            .await;
        assert_eq!(r["ErrorCode"], 0, "{r}");
    }
    // A pin, an unpin and marks, on conversations that exist.
    let (from, to, _) = sent(10);
    let r = app
        .rest(
            "missive_contact/set_top",
            json!({"From_Account": to, "Type": 1, "To_Account": from, "TopFlag": 1}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    let (from, to, _) = sent(11);
    for top in [1, 0] {
        let r = app
            .rest(
                "missive_contact/set_top",
                json!({"From_Account": from, "Type": 1, "To_Account": to, "TopFlag": top}),
            )
            .await;
        assert_eq!(r["ErrorCode"], 0, "{r}");
    }
    let r = app
        .rest(
            "recentcontact/mark_contact",
            json!({"From_Account": from, "MarkItem": [{"OptType": 3,
                   "ContactItem": {"Type": 1, "To_Account": to},
                   "SetMark": [round % 64, 63], "ClearMark": [(round + 1) % 64],
                   "CustomMark": format!("round {round}")}]}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    (0..replies.len()).map(sent).collect()
}

/// Changes are answered once the views hold them, which a stalled projector
/// delays: they are sent without waiting for the answer (the change is on the
/// log as soon as ingest has checked it).
fn fire(app: &TestApp, api: &str, body: Value) {
    let (http, url) = (app.http.clone(), app.rest_url(api, &app.admin_query()));
    tokio::spawn(async move { http.post(url).body(body.to_string()).send().await });
}

/// Sends in many conversations, then an edit, a recall and a read of
/// messages the views already hold.
async fn stage_workload(
    app: &TestApp,
    round: u32,
    earlier: &[(String, String, String)],
) -> Vec<(String, String, String)> {
    let sends = (0..12u32).map(|i| {
        let (from, to) = (format!("u{}", i % 8), format!("u{}", (i * 5 + round) % 8));
        let body = json!({"From_Account": from, "To_Account": to,
                          "MsgRandom": 50_000 + round * 100 + i, "MsgBody": text(&format!("s{round} m{i}"))});
        async move {
            let r = app.rest("openim/sendmsg", body).await;
            assert_eq!(r["ErrorCode"], 0, "{r}");
            (from, to, r["MsgKey"].as_str().unwrap().to_owned())
        }
    });
    let sent = join_all(sends).await;
    let (from, to, key) = &earlier[round as usize % earlier.len()];
    fire(
        app,
        "openim/modify_c2c_msg",
        json!({"From_Account": from, "To_Account": to, "MsgKey": key, "MsgBody": text("edited again")}),
    );
    let (from, to, key) = &earlier[(round as usize + 7) % earlier.len()];
    fire(
        app,
        "openim/admin_msgwithdraw",
        json!({"From_Account": from, "To_Account": to, "MsgKey": key}),
    );
    fire(
        app,
        "openim/admin_set_msg_read",
        json!({"Report_Account": sent[0].1, "Peer_Account": sent[0].0}),
    );
    sent
}

async fn wait_for_messages(app: &TestApp, replies: &[Value]) {
    let keys: Vec<String> = replies
        .iter()
        .map(|r| r["MsgKey"].as_str().unwrap().to_owned())
        .collect();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let n: i64 = app
            .pg
            .query_one(
                "SELECT count(*) FROM messages WHERE msg_key = ANY($1)",
                &[&keys],
            )
            .await
            .unwrap()
            .get(0);
        if n == keys.len() as i64 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sends not projected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_same(live: &support::Digests, rebuilt: &support::Digests) {
    for (table, l) in live {
        assert_eq!(
            Some(l),
            rebuilt.get(table),
            "view {table} differs after a rebuild"
        );
    }
}

/// Every view that the workload fills has rows, so equal digests mean something.
fn assert_filled(live: &support::Digests) {
    for table in [
        "conversations",
        "messages",
        "inbox",
        "inbox_cursors",
        "read_state",
        "recent_contacts",
        "profiles",
        "friends",
        "blocks",
        "projector_offsets",
    ] {
        assert!(live[table].rows > 0, "{table} is empty: {live:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_from_the_log_equals_the_live_views_whatever_the_batch_sizes() {
    // Live: tiny batches, cut by natural batching (no linger), in two consume
    // loops; rebuild: one big batch per poll, in two loops as well (each
    // with two of the four partitions, writing side by side).
    let app = TestApp::spawn_with(|c| {
        c.projector.batch_max = 3;
        c.projector.batch_linger_ms = 0;
        c.projector.loops = 2;
        c.projector.replay_loops = 2;
        c.kafka.partitions = 4;
    })
    .await;
    for round in 0..3 {
        mixed_workload(&app, round).await;
    }
    app.wait_projected().await;
    let (live, rebuilt) = app.rebuild_digests(5_000).await;
    assert_filled(&live);
    assert_same(&live, &rebuilt);
    // And the other way round: a rebuild in batches of one.
    let (_, one_by_one) = app.rebuild_digests(1).await;
    assert_same(&live, &one_by_one);
    app.stop().await;
}

/// A replay its caller stops (Ctrl-C) ends as quietly as one that reached
/// the end of the log; it must say it stopped, so a partial rebuild is
/// neither swept by retention nor reported (or compared) as done.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replay_stopped_before_the_end_of_the_log_says_so() {
    let app = TestApp::spawn().await;
    mixed_workload(&app, 0).await;
    app.wait_projected().await;
    let base = missive_core::Config::load().unwrap().database_url;
    let (name, config) = app.replay_target("stopped").await;
    let url = config.database_url.clone();
    let stop = CancellationToken::new();
    stop.cancel();
    let progress = Arc::new(missive_projector::ReplayProgress::default());
    let stopped = missive_projector::replay(Arc::new(config.clone()), progress, stop).await;
    assert!(
        matches!(stopped, Err(missive_projector::ProjectorError::Stopped)),
        "{stopped:?}"
    );
    // Run again to the end, it resumes where it stopped and is done.
    let progress = Arc::new(missive_projector::ReplayProgress::default());
    missive_projector::replay(Arc::new(config), progress, CancellationToken::new())
        .await
        .expect("the replay resumes and finishes");
    let rebuilt = missive_core::views::digest(
        &missive_core::db::connect(&url).await.unwrap(),
        app.contacts_max(),
    )
    .await
    .unwrap();
    let live = missive_core::views::digest(&app.pg, app.contacts_max())
        .await
        .unwrap();
    assert_same(&live, &rebuilt);
    missive_core::db::drop_database(&base, &name).await.unwrap();
    app.stop().await;
}

/// A child `missive projector`, killed when dropped, so a failing test
/// leaves no process behind.
struct ChildProjector(Child);

impl ChildProjector {
    fn kill(&mut self) -> std::io::Result<()> {
        self.0.kill()
    }

    fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.0.wait()
    }
}

impl Drop for ChildProjector {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `missive projector` as a child process, so it can be killed with SIGKILL.
/// The `missive` binary, pointed at this test's database and topics.
fn missive(app: &TestApp) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_missive"));
    cmd.env(
        "MISSIVE_DATABASE_URL",
        app.config.database_url.expose_secret(),
    )
    .env(
        "MISSIVE_KAFKA__TOPIC_PREFIX",
        &app.config.kafka.topic_prefix,
    );
    cmd
}

fn spawn_projector(app: &TestApp) -> ChildProjector {
    ChildProjector(
        missive(app)
            .arg("projector")
            // Offsets live in PostgreSQL: a fresh group never waits for the
            // killed member's session to time out.
            .env("MISSIVE_PROJECTOR__GROUP_ID", unique_name("killed"))
            .env("MISSIVE_PROJECTOR__LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start `missive projector`"),
    )
}

/// The backend blocked on our advisory lock, once a batch reaches the stalled stage.
async fn stalled_backend(app: &TestApp, lock: i64) -> i32 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let row = app
            .pg
            .query_opt(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1::bigint::oid AND NOT granted",
                &[&lock],
            )
            .await
            .unwrap();
        if let Some(r) = row {
            return r.get(0);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no batch reached the stall"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_at_every_stage_of_a_batch_neither_loses_nor_doubles() {
    // The rebuild at the end in one loop (the test above has two).
    let mut app = TestApp::spawn_with(|c| {
        c.kafka.partitions = 4;
        c.projector.replay_loops = 1;
    })
    .await;
    let earlier = mixed_workload(&app, 0).await;
    app.wait_projected().await;
    // The in-process projector hands over to killable child processes.
    app.projector.take().unwrap().shutdown().await;
    let mut projector = spawn_projector(&app);

    app.pg
        .batch_execute(
            "CREATE FUNCTION stall_here() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NULL; END $$",
        )
        .await
        .unwrap();
    // Each statement a batch runs, in the order it runs them; the batch
    // stalls there, is killed (process and backend), and is redone.
    let stages = [
        ("conversations", "INSERT"),
        ("inbox_cursors", "INSERT"),
        ("messages", "INSERT"),
        ("inbox", "INSERT"),
        ("recent_contacts", "INSERT"),
        ("messages", "UPDATE"), // recall, edit
        ("read_state", "INSERT"),
        ("projector_offsets", "UPDATE"), // the commit's last write
    ];
    for (round, (table, op)) in stages.iter().enumerate() {
        app.pg
            .batch_execute(&format!(
                "SELECT pg_advisory_lock(4242);
                 CREATE TRIGGER stall BEFORE {op} ON {table}
                 FOR EACH STATEMENT EXECUTE FUNCTION stall_here();"
            ))
            .await
            .unwrap();
        let before = app.scalar("SELECT count(*) FROM messages").await;
        stage_workload(&app, round as u32, &earlier).await;
        let backend = stalled_backend(&app, 4242).await;
        projector.kill().expect("SIGKILL the projector");
        projector.wait().unwrap();
        app.pg
            .batch_execute(&format!(
                "SELECT pg_terminate_backend({backend});
                 DROP TRIGGER stall ON {table};
                 SELECT pg_advisory_unlock(4242);"
            ))
            .await
            .unwrap();
        // Nothing of the killed batch is visible: rows and offsets agree.
        let sql = format!(
            "SELECT COALESCE(sum(next_offset), 0)::bigint FROM projector_offsets WHERE topic = '{}'",
            app.config.events_topic()
        );
        assert!(
            app.scalar(&sql).await < app.events_on_log(),
            "stage {table} {op}: the killed batch must not have committed"
        );
        assert!(app.scalar("SELECT count(*) FROM messages").await >= before);
        projector = spawn_projector(&app);
        app.wait_projected().await;
    }
    projector.kill().unwrap();
    projector.wait().unwrap();

    // Dense seqs, one row per message, and the same views as a rebuild.
    assert_eq!(
        app.scalar(
            "SELECT count(*) FROM (SELECT conversation_id, count(*) AS n, max(seq) AS top
             FROM messages GROUP BY conversation_id) m
             JOIN conversations c USING (conversation_id)
             WHERE m.n <> m.top OR c.last_seq <> m.top"
        )
        .await,
        0,
        "sequence numbers have gaps or doubles"
    );
    let (live, rebuilt) = app.rebuild_digests(5_000).await;
    assert_filled(&live);
    assert_same(&live, &rebuilt);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missive_replay_rebuilds_into_a_new_database_and_compares_every_view() {
    let app = TestApp::spawn().await;
    mixed_workload(&app, 0).await;
    app.wait_projected().await;
    let into = format!("{}_cli", app.db);
    let run = missive(&app)
        .args(["replay", "--compare", "--into", &into])
        .env("MISSIVE_PROGRESS", "0")
        .output()
        .expect("run `missive replay`");
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        said.contains(&format!("replayed {} events", app.events_on_log())),
        "{said}"
    );
    for table in ["messages", "inbox", "recent_contacts", "read_state"] {
        assert!(
            said.lines()
                .any(|l| l.starts_with(table) && l.ends_with("same")),
            "{table}: {said}"
        );
    }
    // A second replay into the same (now existing) database is refused.
    let again = missive(&app)
        .args(["replay", "--into", &into])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("must not exist yet"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let base = missive_core::Config::load().unwrap().database_url;
    missive_core::db::drop_database(&base, &into).await.unwrap();
    app.stop().await;
}
