//! The probe every send makes before it is decided
//! ([`views::send_contexts`]), shared by the sends that arrive together.
//!
//! A probe never waits for company: when no statement is out, a send's probe
//! leaves at once, alone. While one is out, the sends that arrive queue, and
//! the next statement reads all of them (up to [`MAX_SENDS`]). So at a
//! trickle every send has its own statement, as before, and under load the
//! statement's fixed cost is shared: plan start-up, a round trip and a
//! commit were ~75 µs of PostgreSQL's CPU per statement against ~12 µs per
//! send it reads (pgbench on the dev box), two thirds of a probe at 2,000
//! msg/s (docs/benchmarks.md, step 32). Each send's snapshot is still taken
//! after it arrived, so a change acknowledged before a send is honoured.
//!
//! When PostgreSQL refuses a statement of several sends, each is read again
//! by itself, so a send it refuses fails alone.
//! The draining runs in its own task, so a caller that gives up (a client
//! that disconnects) strands no one queued behind it.

use std::sync::{Arc, Mutex, PoisonError};

use deadpool_postgres::Pool;
use tokio::sync::oneshot;

use missive_core::views::{self, SendContext, SendKey};
use missive_core::ApiError;

/// Most sends read by one statement.
pub const MAX_SENDS: usize = 256;

type Reply = oneshot::Sender<Result<SendContext, ApiError>>;

/// The shared probe of one pool's sends. Clones share the queue.
#[derive(Clone)]
pub struct SendProbes {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queue: Vec<(SendKey, Reply)>,
    /// A task is draining the queue: sends that arrive now join its next
    /// statement.
    draining: bool,
}

impl SendProbes {
    pub fn new(pool: Pool) -> Self {
        Self {
            shared: Arc::new(Shared {
                pool,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// What `send` is decided on, read in the next statement out.
    pub async fn probe(&self, send: SendKey) -> Result<SendContext, ApiError> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut state = self.shared.lock();
            state.queue.push((send, reply));
            !std::mem::replace(&mut state.draining, true)
        };
        if start {
            tokio::spawn(drain(Draining {
                shared: self.shared.clone(),
                finished: false,
            }));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(ApiError::db_unavailable("the send probe was interrupted")))
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The draining task's claim on the queue. It gives the claim up itself
/// once the queue is empty; should the task end otherwise (a panic, the
/// runtime shutting down), dropping this gives it up and answers the sends
/// still queued with an error (their reply senders drop), rather than
/// leaving them waiting.
struct Draining {
    shared: Arc<Shared>,
    finished: bool,
}

impl Drop for Draining {
    fn drop(&mut self) {
        if !self.finished {
            let mut state = self.shared.lock();
            state.draining = false;
            state.queue.clear();
        }
    }
}

async fn drain(mut draining: Draining) {
    loop {
        let batch: Vec<(SendKey, Reply)> = {
            let mut state = draining.shared.lock();
            if state.queue.is_empty() {
                state.draining = false;
                draining.finished = true;
                return;
            }
            let n = state.queue.len().min(MAX_SENDS);
            state.queue.drain(..n).collect()
        };
        metrics::histogram!("missive_ingest_send_probe_sends").record(batch.len() as f64);
        read(&draining.shared.pool, batch).await;
    }
}

/// Reads `batch` in one statement and answers each send; one by one when
/// PostgreSQL refuses the statement, so a send it refuses fails alone.
async fn read(pool: &Pool, batch: Vec<(SendKey, Reply)>) {
    let client = match pool.get().await {
        Ok(client) => client,
        Err(e) => {
            let error = ApiError::db_unavailable(e);
            for (_, reply) in batch {
                let _ = reply.send(Err(error.clone()));
            }
            return;
        }
    };
    let (sends, replies): (Vec<SendKey>, Vec<Reply>) = batch.into_iter().unzip();
    match views::send_contexts(&client, &sends).await {
        Ok(contexts) => {
            for (reply, context) in replies.into_iter().zip(contexts) {
                let _ = reply.send(Ok(context));
            }
        }
        // Not the values (unreachable, shutting down), or one send: every
        // send gets the error.
        Err(e) if !missive_core::db::refused_values(&e) || sends.len() == 1 => {
            for reply in replies {
                let _ = reply.send(Err(ApiError::db_unavailable(&e)));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, sends = sends.len(), "a shared send probe failed; reading each send alone");
            for (send, reply) in sends.into_iter().zip(replies) {
                let one = views::send_contexts(&client, std::slice::from_ref(&send))
                    .await
                    .map_err(ApiError::db_unavailable)
                    .and_then(|mut c| {
                        c.pop().ok_or_else(|| {
                            ApiError::db_unavailable("the send probe returned no row")
                        })
                    });
                let _ = reply.send(one);
            }
        }
    }
}
