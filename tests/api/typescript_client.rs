//! The TypeScript client package (`clients/typescript`, docs/sdk.md) and the
//! machine-readable API specs (`docs/api/`) against the real stack: this test
//! starts the services on a fresh database and topics, builds the package
//! (`npm ci` when its dependencies are missing or stale, then `npm run
//! build`) and runs its Node tests (`node --test`), which connect to these
//! services. It passes only if every Node test passes.
//!
//! The Node tests share this one server, so its settings are theirs too:
//! at most 2 conversations offered offline (the login-order test) and
//! messages to a user who blocks the sender refused with 20007.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use missive_core::config::BlockMode;
use secrecy::ExposeSecret;
use tokio::process::Command;

use support::TestApp;

/// How long the whole Node suite may take.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/typescript")
}

/// Runs `program args` in the package directory; panics with its output unless it succeeds.
async fn run(program: &str, args: &[&str], envs: &[(&str, String)]) -> String {
    let started = Instant::now();
    let child = Command::new(program)
        .args(args)
        .current_dir(package_dir())
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{program}`: {e}. The TypeScript client needs Node.js 20+ and npm \
                 (infra/up.sh checks for them)"
            )
        });
    let out = tokio::time::timeout(SUITE_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("`{program} {}` took over {SUITE_TIMEOUT:?}", args.join(" ")))
        .expect("the child's output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "==> {program} {} ({:.1} s)\n{text}",
        args.join(" "),
        started.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}); its output is above",
        args.join(" "),
        out.status
    );
    text
}

/// `npm ci` unless node_modules matches the committed lockfile (npm keeps a
/// copy of the lockfile it installed in node_modules/.package-lock.json).
async fn install_dependencies() {
    let dir = package_dir();
    let installed = std::fs::metadata(dir.join("node_modules/.package-lock.json"))
        .and_then(|m| m.modified())
        .ok();
    let wanted = std::fs::metadata(dir.join("package-lock.json"))
        .and_then(|m| m.modified())
        .expect("clients/typescript/package-lock.json");
    if installed.is_none_or(|at| at < wanted) {
        run("npm", &["ci", "--no-progress"], &[]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_typescript_client_and_the_api_specs_pass_their_node_tests() {
    install_dependencies().await;
    run("npm", &["run", "--silent", "build"], &[]).await;

    let app = TestApp::spawn_with(|c| {
        c.views.offline_conversations_max = 2;
        c.permissions.block_mode = BlockMode::Refuse;
    })
    .await;
    let ingest = app.ingest.as_ref().unwrap().addr;
    let delivery = app.delivery.as_ref().unwrap().addr;
    let envs = [
        ("MISSIVE_TEST_WS_URL", format!("ws://{delivery}/v1/ws")),
        ("MISSIVE_TEST_REST_URL", format!("http://{ingest}")),
        ("MISSIVE_TEST_SDKAPPID", app.config.sdkappid.to_string()),
        ("MISSIVE_TEST_ADMIN", app.config.admin_identifier.clone()),
        // The tests mint UserSigs themselves (an independent implementation
        // of the format): the test server's key, never a real one.
        (
            "MISSIVE_TEST_SECRET_KEY",
            app.config.secret_key.expose_secret().to_owned(),
        ),
    ];
    // Node 20 has no stable global WebSocket: the flag turns on the one
    // Node 22 has by default (the client takes any WebSocket constructor).
    let mut args = vec![
        "--experimental-websocket".to_owned(),
        "--test".to_owned(),
        "--test-reporter=spec".to_owned(),
        "--test-concurrency=4".to_owned(),
        // A failed test may leave a client reconnecting: end the run anyway.
        "--test-force-exit".to_owned(),
    ];
    let mut files: Vec<String> = std::fs::read_dir(package_dir().join("build/test"))
        .expect("build/test, written by `npm run build`")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".test.js"))
        .map(|name| format!("build/test/{name}"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the Node tests were not built: {files:?}");
    args.extend(files);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let report = run("node", &args, &envs).await;
    assert!(
        report.contains("# fail 0") || report.contains("ℹ fail 0"),
        "the Node test report shows failures"
    );
    app.stop().await;
}
