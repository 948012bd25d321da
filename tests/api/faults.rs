//! The fault loop (issue #9), one round: under a steady load, kill -9 ingest,
//! the projector and delivery in turn, restart the broker and PostgreSQL,
//! and cut a WebSocket client mid-stream; then every acknowledged message is
//! in history and both inboxes exactly once, in seq order, on every device of
//! its online recipient, and no push went out twice. Runs the real `missive`
//! binary against a private PostgreSQL and broker (`missive-chaos`);
//! `make chaos ROUNDS=n` runs more rounds.

use std::path::PathBuf;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_message_survives_each_fault_exactly_once() {
    let mut opts = missive_chaos::Options::new(PathBuf::from(env!("CARGO_BIN_EXE_missive")));
    opts.rate = 40.0;
    opts.settle = Duration::from_secs(3);
    let report = missive_chaos::run(opts).await.expect("the fault loop runs");
    let pretty = serde_json::to_string_pretty(&report).unwrap();
    let round = report.last().expect("one round");
    assert_eq!(round.faults.len(), missive_chaos::Fault::ALL.len());
    assert!(
        round.findings.acked >= 200,
        "too little load to mean anything: {pretty}"
    );
    assert!(
        round.findings.pushes > 0,
        "offline recipients were pushed to: {pretty}"
    );
    assert!(report.clean(), "lost, doubled or reordered: {pretty}");
    assert!(
        round.service_exits.is_empty(),
        "services must survive broker and PostgreSQL restarts by themselves: {pretty}"
    );
    let _ = std::fs::remove_dir_all(&report.work_dir);
}
