//! Serving a router over HTTP/1.1 with limits slow or idle clients cannot get around: a
//! deadline for each request's headers (which also closes keep-alive connections left idle)
//! and a cap on open connections. `axum::serve` has neither.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Limits applied to every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Longest wait for a request's headers, counted from when the connection is ready for
    /// the next request: a slowloris client, or an idle keep-alive connection, is closed after it.
    pub header_timeout: Duration,
    /// Connections open at once; the listener stops accepting while this many are open.
    pub max_connections: usize,
    /// On shutdown, how long requests in progress (and open event streams) may take to end.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self { header_timeout: Duration::from_secs(30), max_connections: 4096, shutdown_grace: Duration::from_secs(5) }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets the connections in progress
/// finish within the grace period. Each request carries its peer's address as
/// `ConnectInfo<std::net::SocketAddr>`, as with axum's `into_make_service_with_connect_info`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&open).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request.map(Body::new))
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::debug!("connections still open at shutdown were closed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn start(limits: ConnectionLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new()
            .route("/peer", get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(serve(listener, app, limits, async move {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    async fn closed_within(stream: &mut tokio::net::TcpStream, wait: Duration) -> bool {
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(wait, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }

    #[tokio::test]
    async fn answers_with_the_peer_address_and_closes_slow_and_idle_connections() {
        let limits = ConnectionLimits { header_timeout: Duration::from_millis(300), ..ConnectionLimits::default() };
        let (addr, _stop) = start(limits).await;
        let mut client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        client.write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\n\r\n").await.expect("write");
        let mut buf = vec![0u8; 4096];
        let n = client.read(&mut buf).await.expect("read");
        let answer = String::from_utf8_lossy(&buf[..n]);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("127.0.0.1"), "{answer}");
        // Kept alive, then idle: closed after the header deadline.
        assert!(closed_within(&mut client, Duration::from_secs(3)).await, "idle connection left open");

        // A client that sends half a request line and stops is cut off too.
        let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
        slow.write_all(b"GET /pe").await.expect("write");
        assert!(closed_within(&mut slow, Duration::from_secs(3)).await, "slowloris connection left open");
    }

    #[tokio::test]
    async fn holds_back_connections_past_the_cap_until_one_closes() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_secs(30),
            max_connections: 1,
            ..ConnectionLimits::default()
        };
        let (addr, stop) = start(limits).await;
        let mut first = tokio::net::TcpStream::connect(addr).await.expect("connect");
        first.write_all(b"GET /pe").await.expect("write");
        let mut second = tokio::net::TcpStream::connect(addr).await.expect("connect (queued by the kernel)");
        second.write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.expect("write");
        let mut buf = vec![0u8; 4096];
        assert!(
            tokio::time::timeout(Duration::from_millis(500), second.read(&mut buf)).await.is_err(),
            "a second connection was served past the cap"
        );
        drop(first);
        let n = tokio::time::timeout(Duration::from_secs(3), second.read(&mut buf))
            .await
            .expect("served once the first closed")
            .expect("read");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        let _ = stop.send(());
    }
}
