//! Listening sockets, with an error that names the address.

use std::net::SocketAddr;

use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })
}

/// What a server holds for its clients: the connections it keeps at once,
/// and how long a client may take to send a request's headers.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// Connections served at once; the next ones wait in the listen backlog
    /// (they are not accepted) until one closes. An upgraded connection (a
    /// WebSocket session) holds its slot until it ends.
    pub max_connections: usize,
    /// A client that has not sent complete request headers this long after
    /// it started is disconnected (slowloris), and so is one that sends
    /// nothing at all this long after connecting.
    pub header_read_timeout: std::time::Duration,
    /// A connection on which nothing is read or written this long is closed.
    /// `None` for servers whose connections become long-lived sessions.
    pub idle_timeout: Option<std::time::Duration>,
}

/// Serves `router` on `listener` until `shutdown`, within `limits`; then
/// stops accepting and lets the open requests finish, as `axum::serve`'s
/// graceful shutdown does.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: ServeLimits,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    use std::sync::Arc;
    use tokio::sync::Semaphore;

    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // CONNECT protocol, for WebSockets over HTTP/2.
    builder.http2().enable_connect_protocol();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, as axum::serve does.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        metrics::gauge!("missive_connections_open").increment(1.0);
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Slotted {
            stream,
            _slot: SlotGuard(slot),
            first_byte: Some(Box::pin(tokio::time::sleep(limits.header_read_timeout))),
            idle: limits
                .idle_timeout
                .map(|d| (d, Box::pin(tokio::time::sleep(d)))),
        });
        // Handlers may ask who connected (`ConnectInfo<SocketAddr>`), as
        // with axum::serve's `into_make_service_with_connect_info`.
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            router.clone(),
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                req
            },
        ));
        let conn = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A connection's slot, given back when the connection (or the WebSocket
/// it was upgraded to) is dropped.
struct SlotGuard(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        metrics::gauge!("missive_connections_open").decrement(1.0);
    }
}

type Timer = std::pin::Pin<Box<tokio::time::Sleep>>;

/// A TCP stream that holds its connection slot, and times out a client that
/// sends nothing after connecting (hyper's header timeout starts only with
/// the first byte) or, where set, a connection idle too long.
struct Slotted {
    stream: tokio::net::TcpStream,
    _slot: SlotGuard,
    /// Until the first byte arrives.
    first_byte: Option<Timer>,
    idle: Option<(std::time::Duration, Timer)>,
}

impl Slotted {
    fn active(&mut self) {
        if let Some((d, timer)) = &mut self.idle {
            timer.as_mut().reset(tokio::time::Instant::now() + *d);
        }
    }

    /// An error once a timer has run out (registering for its wake-up otherwise).
    fn timed_out(&mut self, cx: &mut std::task::Context<'_>) -> Option<std::io::Error> {
        use std::future::Future as _;
        let first = self
            .first_byte
            .as_mut()
            .is_some_and(|t| t.as_mut().poll(cx).is_ready());
        let idle = self
            .idle
            .as_mut()
            .is_some_and(|(_, t)| t.as_mut().poll(cx).is_ready());
        (first || idle).then(|| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                if first {
                    "the client sent nothing in time"
                } else {
                    "the connection was idle too long"
                },
            )
        })
    }
}

impl tokio::io::AsyncRead for Slotted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let before = buf.filled().len();
        match std::pin::Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.first_byte = None;
                    self.active();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match self.timed_out(cx) {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
            ready => ready,
        }
    }
}

impl tokio::io::AsyncWrite for Slotted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let written = std::pin::Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(written, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.active();
        }
        written
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let written = std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(written, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.active();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl crate::config::LimitsConfig {
    /// The REST server's limits.
    pub fn rest(&self) -> ServeLimits {
        ServeLimits {
            max_connections: self.rest_max_connections,
            header_read_timeout: std::time::Duration::from_millis(self.header_read_timeout_ms),
            idle_timeout: Some(std::time::Duration::from_millis(self.rest_idle_timeout_ms)),
        }
    }

    /// The WebSocket server's limits.
    pub fn ws(&self) -> ServeLimits {
        ServeLimits {
            max_connections: self.ws_max_connections,
            header_read_timeout: std::time::Duration::from_millis(self.header_read_timeout_ms),
            // Sessions may be quiet for long; delivery's login timeout and
            // stall cut-off cover them.
            idle_timeout: None,
        }
    }
}
