//! The listener: accepts connections (TLS or not) within the connection limit, serves HTTP/1.1
//! and HTTP/2 through hyper, sends admin paths to the axum router, answers browsers' CORS
//! preflights, sends everything else through the pipeline, and shuts down gracefully.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use crate::admin;
use crate::context::{ConnInfo, TlsInfo};
use crate::cors;
use crate::pipeline;
use crate::state::AppState;

/// How long a client may take to send its request head, and a TLS client its handshake.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest hyper's head timer may be (see [`head_timeout`]).
const MAX_HEAD_TIMEOUT: Duration = Duration::from_secs(120);

/// hyper's head timer: `--idle-timeout` (an idle keep-alive connection waits for its next head
/// under it), at least [`HEAD_TIMEOUT`] and at most [`MAX_HEAD_TIMEOUT`] (a head trickling in
/// holds its connection that long).
fn head_timeout(idle_timeout_secs: u64) -> Duration {
    Duration::from_secs(idle_timeout_secs).clamp(HEAD_TIMEOUT, MAX_HEAD_TIMEOUT)
}

/// Requests one HTTP/2 connection may have under way at once.
const MAX_STREAMS: u32 = 64;
/// When "accept failed" was last logged (seconds since the epoch).
static ACCEPT_FAILED_LOGGED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// How long shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until `shutdown` resolves, then drains connections.
pub async fn serve(
    state: Arc<AppState>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let admin = admin::router(state.clone());
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // hyper's head timer also runs while a keep-alive connection waits for its next
        // request, so it must not be shorter than `--idle-timeout` (bug: idle keep-alive
        // connections were closed after 30 s whatever `--idle-timeout` said); it is also how
        // long a head may trickle in, so it stops at two minutes whatever `--idle-timeout` is.
        .header_read_timeout(head_timeout(state.config.idle_timeout_secs))
        // hyper refuses a smaller buffer (its minimum is 8 KiB); a smaller limit is enforced
        // per request below.
        .max_buf_size(state.config.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        // Requests under way on one connection; each may hold a body (bug: 200 streams let one
        // unauthenticated connection make the server buffer 200 MB).
        .max_concurrent_streams(MAX_STREAMS)
        // What a connection may send ahead of what its requests have taken (each within the
        // body budget): bounded per connection, not per stream.
        .initial_connection_window_size(1 << 20)
        .initial_stream_window_size(256 << 10)
        .max_header_list_size(u32::try_from(state.config.max_header_bytes).unwrap_or(u32::MAX));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(state.config.max_connections.max(1)));
    let per_ip = PerIp::new(state.config.max_connections_per_ip.max(1));
    tokio::pin!(shutdown);
    // The connections' tasks, so that those still open when the drain times out are really
    // closed (each holds the state, and with it the audit writer's queue, open).
    let mut connections = tokio::task::JoinSet::new();

    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning, and say so once a minute
                    // (bug: a line every 50 ms while descriptors ran out).
                    if crate::audit::once_a_minute(&ACCEPT_FAILED_LOGGED) {
                        tracing::warn!(error = %e, "accept failed (logged at most once a minute)");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // One address may hold only so many connections: a client that opens connections and
        // sends nothing (slowloris) cannot take every slot (bug: 4,200 half-sent heads from
        // one address left no slot for anyone else).
        let Some(ip_slot) = per_ip.take(client_address(remote.ip())) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let admin = admin.clone();
        let builder = builder.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        connections.spawn(async move {
            let _permit = permit;
            let _ip_slot = ip_slot;
            match tls {
                None => {
                    let conn = ConnInfo { remote, tls: None };
                    serve_connection(&builder, stream, state, admin, conn, watcher).await;
                }
                Some(acceptor) => {
                    let stream =
                        match tokio::time::timeout(HEAD_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(error = %e, %remote, "tls handshake failed");
                                return;
                            }
                            Err(_) => return,
                        };
                    let (_, session) = stream.get_ref();
                    let info = TlsInfo {
                        version: session
                            .protocol_version()
                            .map(|v| tls_version_name(v).to_owned())
                            .unwrap_or_default(),
                        cipher_suite: session
                            .negotiated_cipher_suite()
                            .and_then(|s| s.suite().as_str())
                            .map(cipher_suite_name)
                            .unwrap_or_default(),
                    };
                    let conn = ConnInfo {
                        remote,
                        tls: Some(info),
                    };
                    serve_connection(&builder, stream, state, admin, conn, watcher).await;
                }
            }
        });
    }

    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!(
                connections = connections.len(),
                "connections still open after {DRAIN_TIMEOUT:?}; closing them"
            );
        }
    }
    // What is left: connections past the drain, and ones still in their TLS handshake.
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// The address a client's connections are counted under: an IPv6 client by its /64, which one
/// host is usually given whole (counting /128s let one host open a slot per address).
pub(crate) fn client_address(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip.to_canonical() {
        std::net::IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            std::net::IpAddr::V6(std::net::Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// Connections held per client address.
#[derive(Clone)]
struct PerIp {
    held: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
    max: usize,
}

/// One connection's place in its address's count, given back when dropped.
struct IpSlot {
    held: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
    ip: std::net::IpAddr,
}

impl PerIp {
    fn new(max: usize) -> Self {
        Self {
            held: Arc::default(),
            max,
        }
    }

    /// A place for one more connection from `ip`, unless it holds the most it may.
    fn take(&self, ip: std::net::IpAddr) -> Option<IpSlot> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            held: self.held.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

fn tls_version_name(v: rustls::ProtocolVersion) -> &'static str {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => "unknown",
    }
}

/// A cipher suite as CloudTrail's `tlsDetails.cipherSuite` names it: TLS 1.3 suites by their
/// IANA name (`TLS_AES_128_GCM_SHA256`), TLS 1.2 ones by OpenSSL's (`ECDHE-RSA-AES128-GCM-SHA256`);
/// rustls calls them `TLS13_AES_128_GCM_SHA256` and `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`.
fn cipher_suite_name(rustls_name: &str) -> String {
    if let Some(rest) = rustls_name.strip_prefix("TLS13_") {
        return format!("TLS_{rest}");
    }
    let Some((kx, cipher)) = rustls_name
        .strip_prefix("TLS_")
        .and_then(|r| r.split_once("_WITH_"))
    else {
        return rustls_name.to_owned();
    };
    let kx = kx.replace('_', "-");
    let cipher = match cipher {
        "AES_128_GCM_SHA256" => "AES128-GCM-SHA256",
        "AES_256_GCM_SHA384" => "AES256-GCM-SHA384",
        "CHACHA20_POLY1305_SHA256" => "CHACHA20-POLY1305",
        other => return format!("{kx}-{}", other.replace('_', "-")),
    };
    format!("{kx}-{cipher}")
}

/// The size of a request's head as HTTP/1.1 sends it: the request line and each header line.
fn head_bytes<B>(request: &Request<B>) -> usize {
    let uri = request.uri();
    let target = match uri.path_and_query() {
        Some(pq) if uri.scheme().is_none() => pq.as_str().len(),
        _ => uri.to_string().len(),
    };
    // "METHOD target HTTP/1.1\r\n", each "name: value\r\n", and the empty line.
    let line = request.method().as_str().len() + 1 + target + 11;
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    line + headers + 2
}

/// The answer to a head over `--max-header-bytes` that hyper let through (it cannot limit
/// HTTP/1.1 heads below 8 KiB; bug: 2,000- and 5,000-byte heads were served under
/// `--max-header-bytes 1024`). As hyper's own 431, it comes before the request is decoded,
/// so no handler runs and nothing is audited; the connection is closed, as the client may
/// still be sending (HTTP/2 has no such header: the stream alone ends).
fn head_too_large(version: http::Version) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    if version < http::Version::HTTP_2 {
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// A stream that notes when it last moved a byte.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

/// What a connection's watchdog looks at.
struct Activity {
    start: Instant,
    /// Milliseconds after `start` of the last byte read or written.
    last_ms: AtomicU64,
    /// Requests being handled: a handler may run a while without moving a byte.
    busy: AtomicUsize,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Counts a request as under way until dropped (also when its future is dropped).
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: &Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::Relaxed);
        Busy(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// Serves one connection until it closes, shutdown drains it, or it sits idle (no request under
/// way, no byte moved) for `--idle-timeout`. hyper's head timeout does not cover a connection
/// before its first request, so without this a client that connects (or finishes a TLS
/// handshake) and sends nothing held a connection slot forever, and `--max-connections` silent
/// sockets locked everyone out.
async fn serve_connection<S>(
    builder: &Builder<TokioExecutor>,
    stream: S,
    state: Arc<AppState>,
    admin: axum::Router,
    conn: ConnInfo,
    watcher: Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let idle_timeout = Duration::from_secs(state.config.idle_timeout_secs.max(1));
    let activity = Arc::new(Activity {
        start: Instant::now(),
        last_ms: AtomicU64::new(0),
        busy: AtomicUsize::new(0),
    });
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let remote = conn.remote;
    let conn = Arc::new(conn);
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let state = state.clone();
        let mut admin = admin.clone();
        let conn = conn.clone();
        let busy = Busy::new(&requests);
        async move {
            let _busy = busy;
            if head_bytes(&request) > state.config.max_header_bytes {
                return Ok(head_too_large(request.version()));
            }
            if admin::is_admin_path(request.uri().path()) {
                let response = match admin.call(request).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                let (parts, body) = response.into_parts();
                let bytes = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_else(|_| Bytes::new());
                return Ok::<_, Infallible>(Response::from_parts(parts, Full::new(bytes)));
            }
            // A browser's preflight is answered here: it is no API call (it names no
            // operation and carries no credentials), so nothing is authenticated or audited.
            // Not in `--dev`, which accepts any signature: there any web page the developer
            // visits could read their local server (see `cors`).
            let cors = !state.config.dev;
            if cors && cors::is_preflight(request.method(), request.headers()) {
                return Ok(cors::preflight(request.headers()));
            }
            let from_page = cors && cors::from_page(request.headers());
            let mut response = pipeline::handle(&state, &conn, request).await;
            if from_page {
                cors::allow(&mut response);
            }
            Ok(response)
        }
    });
    let connection = watcher.watch(builder.serve_connection(io, service).into_owned());
    tokio::pin!(connection);
    loop {
        let check = idle_timeout
            .saturating_sub(activity.idle())
            .max(Duration::from_millis(200));
        tokio::select! {
            ended = &mut connection => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, %remote, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep(check) => {
                if activity.busy.load(Ordering::Relaxed) == 0 && activity.idle() >= idle_timeout {
                    tracing::debug!(%remote, "idle connection closed");
                    return;
                }
            }
        }
    }
}

/// The address to print, with the scheme clients should use.
pub fn endpoint_url(addr: SocketAddr, tls: bool) -> String {
    format!("{}://{addr}", if tls { "https" } else { "http" })
}

#[cfg(test)]
mod tests {
    use super::cipher_suite_name;

    #[test]
    fn cipher_suites_are_named_as_cloudtrail_names_them() {
        assert_eq!(
            cipher_suite_name("TLS13_AES_256_GCM_SHA384"),
            "TLS_AES_256_GCM_SHA384"
        );
        assert_eq!(
            cipher_suite_name("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            "ECDHE-RSA-AES128-GCM-SHA256"
        );
        assert_eq!(
            cipher_suite_name("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
            "ECDHE-ECDSA-CHACHA20-POLY1305"
        );
    }
}
