//! The browser demo end to end in headless Chromium (Debian's `chromium`
//! and `chromium-driver`, driven over WebDriver): two users chat live, one
//! leaves and comes back to find what was sent meanwhile, a recall shows,
//! read receipts and typing show, a contact is pinned and one deleted.
//! Leaves screenshots in `artifacts/` (git-ignored).

use crate::support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use support::{TestApp, WAIT};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver on a free port, stopped when dropped.
struct Driver {
    url: String,
    _process: tokio::process::Child,
}

impl Driver {
    async fn start() -> Self {
        let driver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
        assert!(
            std::path::Path::new(&driver).exists() && std::path::Path::new(&chromium()).exists(),
            "the browser test needs {driver} and {}: `apt-get install chromium chromium-driver` \
             (infra/up.sh --deps-only installs them)",
            chromium()
        );
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let process = tokio::process::Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver}: {e}"));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(r) = reqwest::get(format!("{url}/status")).await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            url,
            _process: process,
        }
    }

    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium(), "args": [
                "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", "--window-size=1000,700"]}),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| CHROMIUM.into())
}

/// The texts of every element matching `css`, in document order.
async fn texts(c: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in c.find_all(Locator::Css(css)).await.unwrap_or_default() {
        out.push(e.text().await.unwrap_or_default());
    }
    out
}

/// Waits until the texts matching `css` satisfy `ok`.
async fn wait_texts(c: &Client, css: &str, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = texts(c, css).await;
        if ok(&got) {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "`{css}` stayed at {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn type_into(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

/// Clicks `css`, finding it again if the page re-rendered it in between
/// (the contacts list is redrawn on every change).
async fn click(c: &Client, css: &str) {
    click_at(c, Locator::Css(css)).await
}

/// Clicks what `at` finds, finding it again if the page re-rendered it in
/// between (messages are redrawn when a receipt or a recall arrives).
async fn click_at(c: &Client, at: Locator<'_>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let clicked = match c.find(at).await {
            Ok(e) => e.click().await,
            Err(e) => Err(e),
        };
        match clicked {
            Ok(()) => return,
            Err(e) => assert!(
                tokio::time::Instant::now() < deadline,
                "cannot click {at:?}: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn open_and_login(c: &Client, page: &str, user: &str) {
    c.goto(page).await.unwrap();
    type_into(c, "#user", user).await;
    click(c, "#login").await;
    wait_texts(c, "#status.online", |t| t == ["online"]).await;
}

async fn send(c: &Client, text: &str) {
    type_into(c, "#text", text).await;
    click(c, "#send").await;
    wait_texts(c, "#messages .msg.mine .text", |t| {
        t.iter().any(|x| x == text)
    })
    .await;
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_browser_users_chat_one_comes_back_to_what_was_sent_and_a_recall_shows() {
    let app = TestApp::spawn_with(|c| c.delivery.demo = true).await;
    let base = format!("http://{}", app.delivery.as_ref().unwrap().addr);
    let page = format!("{base}/demo");
    // The UserSig endpoint refuses ids no one could use.
    let refused = reqwest::get(format!("{base}/demo/usersig?user=a%20b"))
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["ErrorCode"], 90008, "{body}");

    let driver = Driver::start().await;
    let alice = driver.browser().await;
    let bob = driver.browser().await;
    open_and_login(&alice, &page, "alice").await;
    open_and_login(&bob, &page, "bob").await;

    // Live: alice starts the conversation, bob sees an unread badge, opens it, answers.
    type_into(&alice, "#peer", "bob").await;
    click(&alice, "#open").await;
    send(&alice, "hello bob").await;
    wait_texts(&bob, ".contact[data-peer='alice'] .badge", |t| t == ["1"]).await;
    click(&bob, ".contact[data-peer='alice']").await;
    wait_texts(&bob, "#messages .msg .text", |t| t == ["hello bob"]).await;
    send(&bob, "hi alice").await;
    wait_texts(&alice, "#messages .msg .text", |t| {
        t == ["hello bob", "hi alice"]
    })
    .await;

    // bob closes the page; alice goes on.
    bob.goto("about:blank").await.unwrap();
    send(&alice, "are you there?").await;
    send(&alice, "second thought").await;

    // bob comes back: two unread, then the whole conversation.
    open_and_login(&bob, &page, "bob").await;
    wait_texts(&bob, ".contact[data-peer='alice'] .badge", |t| t == ["2"]).await;
    click(&bob, ".contact[data-peer='alice']").await;
    wait_texts(&bob, "#messages .msg .text", |t| {
        t == ["hello bob", "hi alice", "are you there?", "second thought"]
    })
    .await;

    // alice recalls her last message; bob's page shows the placeholder.
    click_at(
        &alice,
        Locator::XPath(
            "//div[contains(@class,'msg')][span[@class='text' and text()='second thought']]/button[@class='recall']",
        ),
    )
    .await;
    wait_texts(&bob, "#messages .msg.recalled .text", |t| {
        t == ["message recalled"]
    })
    .await;
    wait_texts(&bob, "#messages .msg .text", |t| {
        t == [
            "hello bob",
            "hi alice",
            "are you there?",
            "message recalled",
        ]
    })
    .await;

    // Every demo message asks for a read receipt: bob has the chat open, so
    // alice's page marks her new message read once his page saw it.
    send(&alice, "read me").await;
    wait_texts(&alice, "#messages .msg.mine.read .text", |t| {
        t.iter().any(|x| x == "read me")
    })
    .await;
    // bob typing shows on alice's page (never stored: nothing on the log).
    // The server relays one typing frame per 2 s per pair and refuses the
    // rest, so bob goes on typing as a person does until alice sees it.
    let before = app.changes_on_log();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        type_into(&bob, "#text", "t").await;
        if texts(&alice, "#typing").await == ["bob is typing…"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "alice never saw bob typing"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(app.changes_on_log(), before);

    // alice has a second contact (its order against bob's depends on the
    // second they were last active: the page's cache keeps message times in
    // seconds); pinning bob puts him first, deleting cy's conversation
    // removes it.
    app.send_text("cy", "alice", 1, "from cy").await;
    wait_texts(&alice, ".contact .name", |t| t.len() == 2).await;
    click(&alice, ".contact[data-peer='bob'] button.pin").await;
    wait_texts(&alice, ".contact.pinned .name", |t| t == ["bob"]).await;
    wait_texts(&alice, ".contact .name", |t| t == ["bob", "cy"]).await;
    click(&alice, ".contact[data-peer='cy'] button.delete").await;
    wait_texts(&alice, ".contact .name", |t| t == ["bob"]).await;
    let reply = app
        .rest(
            "recentcontact/get_list",
            json!({"From_Account": "alice", "AssistFlags": 1}),
        )
        .await;
    let listed: Vec<(&str, i64)> = reply["SessionItem"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["To_Account"].as_str().unwrap(),
                s["TopFlag"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [("bob", 1)], "{reply}");

    let dir = artifacts();
    std::fs::write(
        dir.join("browser-demo.png"),
        bob.screenshot().await.unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("browser-demo-alice.png"),
        alice.screenshot().await.unwrap(),
    )
    .unwrap();
    alice.close().await.unwrap();
    bob.close().await.unwrap();
    app.stop().await;
}
