//! A terminal chat client on the SDK. With `make dev` running, in two shells:
//!
//! ```sh
//! cargo run -p missive-sdk --example chat -- --user alice --peer bob \
//!     --usersig "$(cargo run -q -- token --user alice)"
//! cargo run -p missive-sdk --example chat -- --user bob --peer alice \
//!     --usersig "$(cargo run -q -- token --user bob)"
//! ```
//!
//! Type a line to send it. Commands: `/to USER`, `/history` (older
//! messages), `/contacts`, `/recall` (your last message), `/quit`.

use anyhow::Context;
use clap::Parser;
use tokio::io::{AsyncBufReadExt, BufReader};

use missive_sdk::{Client, ClientConfig, ConnectionState, Element, Event, Message};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    user: String,
    /// A UserSig for `--user` (`missive token --user USER`).
    #[arg(long, env = "MISSIVE_USERSIG")]
    usersig: String,
    /// Who to talk to first.
    #[arg(long)]
    peer: String,
    #[arg(long, default_value = "ws://127.0.0.1:8081/v1/ws")]
    url: String,
    /// This terminal's device id (keep it across runs).
    #[arg(long, default_value = "terminal")]
    device: String,
    /// The local cache; default `USER.chat.sqlite` in the current directory.
    #[arg(long)]
    cache: Option<std::path::PathBuf>,
}

fn show(m: &Message) -> String {
    let body = if m.recalled {
        "(message recalled)".to_owned()
    } else {
        m.body
            .iter()
            .map(|e| match e {
                Element::Text { text } => text.clone(),
                other => format!("[{}]", other.msg_type()),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!("#{:<4} {:>10}: {body}", m.seq, m.from)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cache = args
        .cache
        .unwrap_or_else(|| format!("{}.chat.sqlite", args.user).into());
    let config = ClientConfig::new(&args.url).cache_path(cache);
    let (client, mut events) = Client::login(config, &args.user, &args.usersig, &args.device)
        .await
        .context("login")?;
    let mut peer = args.peer;
    let mut oldest = print_history(&client, &peer, None).await;
    let mut last_sent: Option<String> = None;

    let printer = tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            match e {
                Event::NewMessage(m) => println!("{}", show(&m)),
                Event::Recall(m) => println!("#{:<4} (recalled by {})", m.seq, m.from),
                Event::ReadReceipt { peer, read_seq } => {
                    println!("  ({peer} read up to #{read_seq})")
                }
                Event::Refresh => println!("-- in sync --"),
                Event::ConnectionState(ConnectionState::Disconnected { reason }) => {
                    println!("-- disconnected ({reason}); reconnecting --")
                }
                Event::ConnectionState(ConnectionState::AuthFailed { info, .. }) => {
                    println!("-- login refused: {info} --")
                }
                _ => {}
            }
        }
    });

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let line = line.trim();
        let result = match line.split_once(' ').unwrap_or((line, "")) {
            ("", _) => Ok(()),
            ("/quit", _) => break,
            ("/to", who) if !who.is_empty() => {
                peer = who.trim().to_owned();
                oldest = print_history(&client, &peer, None).await;
                Ok(())
            }
            ("/history", _) => {
                oldest = print_history(&client, &peer, oldest).await;
                Ok(())
            }
            ("/contacts", _) => client.recent_contacts().await.map(|cs| {
                for c in cs {
                    println!(
                        "  {:<12} unread {:<3} last #{}",
                        c.peer, c.unread, c.last_seq
                    );
                }
            }),
            ("/recall", _) => match &last_sent {
                Some(key) => client.recall(&peer, key).await,
                None => {
                    println!("nothing to recall");
                    Ok(())
                }
            },
            _ => client
                .send_message(&peer, vec![Element::text(line)])
                .await
                .map(|sent| last_sent = Some(sent.msg_key)),
        };
        if let Err(e) = result {
            println!("!! {e}");
        }
        // Reading the conversation here marks it read for the peer.
        let _ = client.mark_read(&peer, None).await;
    }
    client.logout().await;
    printer.abort();
    Ok(())
}

/// Prints a page of history (oldest first); returns the oldest seq shown.
async fn print_history(client: &Client, peer: &str, before: Option<i64>) -> Option<i64> {
    match client.get_messages(peer, 20, before).await {
        Ok(page) => {
            println!("-- {peer} --");
            for m in page.iter().rev() {
                println!("{}", show(m));
            }
            page.last().map(|m| m.seq).or(before)
        }
        Err(e) => {
            println!("!! history: {e}");
            before
        }
    }
}
