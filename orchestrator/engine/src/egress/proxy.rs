//! The egress proxy an agent in its own network namespace talks to: HTTP CONNECT,
//! absolute-URI HTTP requests (`GET http://host/path`) and SOCKS5 (no authentication,
//! CONNECT only), on one listener the agent's namespace holds and the harness serves.
//! It connects from the host's namespace to what [`Egress`] allows, and refuses the rest
//! with a reason: HTTP 403 with the reason as its body, or SOCKS reply code 2 ("not
//! allowed by ruleset"). Also the relay ([`relay`]) that carries a model API on this
//! machine's loopback into the namespace.
//!
//! Bounded: connections at once per listener, the request head's size and time, the
//! time to connect, and the time a tunnel may stay silent. Every task ends when `stop`
//! fires (the agent process ended) or its listener fails.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tokio_util::sync::CancellationToken;

use super::{Egress, Refusal};

/// Connections one agent process may hold through its proxy at once; more wait in the
/// listener's backlog.
pub(crate) const MAX_CONNECTIONS: usize = 64;
/// The longest request head (request line and headers) read.
const MAX_HEAD: usize = 16 * 1024;
/// Time to send the request head, and to connect upstream.
const HEAD_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A tunnel with no byte in either direction for this long is closed.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// What the proxy of one agent process allows.
#[derive(Debug, Clone)]
pub struct Policy {
    pub egress: Egress,
    /// Never reached, even when listed.
    pub harness_ports: Vec<u16>,
}

/// Serves `listener` as the proxy until `stop` fires.
pub fn serve(
    listener: std::net::TcpListener,
    policy: Arc<Policy>,
    stop: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    Ok(tokio::spawn(accept_loop(listener, stop, move |client| {
        let policy = policy.clone();
        async move { handle(client, &policy).await }
    })))
}

/// Serves `listener` by relaying every connection to `target` (a model API on this
/// machine's loopback) until `stop` fires.
pub(crate) fn relay(
    listener: std::net::TcpListener,
    target: SocketAddr,
    stop: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    relay_via(listener, stop, move || TcpStream::connect(target))
}

/// Serves `listener` by relaying every connection to a connection `connect` opens
/// (bounded by the connect timeout), until `stop` fires.
pub(crate) fn relay_via<C, Fut>(
    listener: std::net::TcpListener,
    stop: CancellationToken,
    connect: C,
) -> std::io::Result<tokio::task::JoinHandle<()>>
where
    C: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = std::io::Result<TcpStream>> + Send + 'static,
{
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let connect = Arc::new(connect);
    Ok(tokio::spawn(accept_loop(
        listener,
        stop,
        move |mut client| {
            let connect = connect.clone();
            async move {
                let mut upstream = tokio::time::timeout(CONNECT_TIMEOUT, connect())
                    .await
                    .map_err(|_| std::io::Error::other("connect timed out"))??;
                splice(&mut client, &mut upstream, IDLE_TIMEOUT).await
            }
        },
    )))
}

async fn accept_loop<F, Fut>(listener: TcpListener, stop: CancellationToken, serve_one: F)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        // A permit first: past the bound, connections wait in the backlog.
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let client = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => client,
                Err(error) => {
                    tracing::warn!(%error, "agent egress proxy: accept failed; it stops");
                    return;
                }
            },
        };
        let stop = stop.clone();
        let work = serve_one(client);
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                result = work => if let Err(error) = result {
                    tracing::debug!(%error, "agent egress proxy: connection ended");
                },
            }
            drop(permit);
        });
    }
}

/// One client connection: SOCKS5 when it starts with version 5, else HTTP.
async fn handle(mut client: TcpStream, policy: &Policy) -> std::io::Result<()> {
    let mut first = [0u8; 1];
    tokio::time::timeout(HEAD_TIMEOUT, client.read_exact(&mut first))
        .await
        .map_err(|_| std::io::Error::other("no request"))??;
    if first[0] == 5 {
        socks5(client, policy).await
    } else {
        http(client, first[0], policy).await
    }
}

async fn http(mut client: TcpStream, first: u8, policy: &Policy) -> std::io::Result<()> {
    let (head, rest) = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client, first)).await
    {
        Ok(Ok(parts)) => parts,
        Ok(Err(e)) => return answer(&mut client, 400, &e.to_string()).await,
        Err(_) => return answer(&mut client, 408, "the request head took too long").await,
    };
    let mut lines = head.split("\r\n");
    let request = lines.next().unwrap_or_default();
    let mut words = request.split(' ');
    let (method, target, version) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
        words.next().unwrap_or("HTTP/1.1"),
    );
    if method.eq_ignore_ascii_case("CONNECT") {
        let Some((host, port)) = split_host_port(target, 443) else {
            return answer(&mut client, 400, "CONNECT needs host:port").await;
        };
        let mut upstream = match open(policy, &host, port).await {
            Ok(s) => s,
            Err(why) => return refuse(&mut client, &why).await,
        };
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        upstream.write_all(&rest).await?;
        return splice(&mut client, &mut upstream, IDLE_TIMEOUT).await;
    }
    let Ok(url) = url::Url::parse(target) else {
        return answer(
            &mut client,
            400,
            "this is a proxy: send CONNECT or an absolute http:// URI",
        )
        .await;
    };
    if url.scheme() != "http" {
        return answer(
            &mut client,
            400,
            "only http:// URIs are proxied as requests; use CONNECT for https",
        )
        .await;
    }
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return answer(&mut client, 400, "the URI names no host").await;
    };
    let mut upstream = match open(policy, host, port).await {
        Ok(s) => s,
        Err(why) => return refuse(&mut client, &why).await,
    };
    let mut path = url.path().to_owned();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    let mut out = format!("{method} {path} {version}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim();
        if !name.to_ascii_lowercase().starts_with("proxy-") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    upstream.write_all(out.as_bytes()).await?;
    upstream.write_all(&rest).await?;
    splice(&mut client, &mut upstream, IDLE_TIMEOUT).await
}

/// Reads up to the blank line; returns the head as text and the bytes after it.
async fn read_head(client: &mut TcpStream, first: u8) -> std::io::Result<(String, Vec<u8>)> {
    let mut buf = vec![first];
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            buf.truncate(end);
            let head = String::from_utf8(buf)
                .map_err(|_| std::io::Error::other("the request head is not UTF-8"))?;
            return Ok((head, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("the request head is too long"));
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other(
                "the request ended before its head did",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn split_host_port(target: &str, default: u16) -> Option<(String, u16)> {
    if let Some(rest) = target.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default,
        };
        return Some((host.to_owned(), port));
    }
    match target.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((target.to_owned(), default)),
    }
}

/// Why a connection was not made.
enum Refused {
    Policy(Refusal),
    Connect(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Policy(r) => write!(f, "{r}"),
            Refused::Connect(why) => f.write_str(why),
        }
    }
}

/// Connects to `host:port` if the policy allows it, trying each address it resolves to.
async fn open(policy: &Policy, host: &str, port: u16) -> Result<TcpStream, Refused> {
    let addrs = policy
        .egress
        .resolve(host, port, &policy.harness_ports)
        .await
        .map_err(|r| {
            tracing::warn!(%host, port, reason = %r, "agent egress refused");
            Refused::Policy(r)
        })?;
    let mut last = String::from("no address");
    for addr in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: connect timed out"),
        }
    }
    Err(Refused::Connect(format!(
        "cannot connect to {host}:{port}: {last}"
    )))
}

async fn refuse(client: &mut TcpStream, why: &Refused) -> std::io::Result<()> {
    match why {
        Refused::Policy(_) => answer(client, 403, &why.to_string()).await,
        Refused::Connect(_) => answer(client, 502, &why.to_string()).await,
    }
}

async fn answer(client: &mut TcpStream, status: u16, reason: &str) -> std::io::Result<()> {
    let text = match status {
        403 => "Forbidden",
        408 => "Request Timeout",
        502 => "Bad Gateway",
        _ => "Bad Request",
    };
    let body = format!("harness egress proxy: {reason}\n");
    let reply = format!(
        "HTTP/1.1 {status} {text}\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    client.write_all(reply.as_bytes()).await?;
    client.shutdown().await
}

/// SOCKS5 reply codes.
const SOCKS_OK: u8 = 0;
const SOCKS_NOT_ALLOWED: u8 = 2;
const SOCKS_HOST_UNREACHABLE: u8 = 4;
const SOCKS_REFUSED: u8 = 5;
const SOCKS_NO_COMMAND: u8 = 7;
const SOCKS_NO_ADDRESS_TYPE: u8 = 8;

async fn socks5(mut client: TcpStream, policy: &Policy) -> std::io::Result<()> {
    let request = tokio::time::timeout(HEAD_TIMEOUT, socks_request(&mut client))
        .await
        .map_err(|_| std::io::Error::other("the SOCKS request took too long"))??;
    let (host, port) = match request {
        Ok(dest) => dest,
        Err(code) => return socks_reply(&mut client, code).await,
    };
    match open(policy, &host, port).await {
        Ok(mut upstream) => {
            socks_reply(&mut client, SOCKS_OK).await?;
            splice(&mut client, &mut upstream, IDLE_TIMEOUT).await
        }
        Err(Refused::Policy(Refusal::Unresolved(_))) => {
            socks_reply(&mut client, SOCKS_HOST_UNREACHABLE).await
        }
        Err(Refused::Policy(_)) => socks_reply(&mut client, SOCKS_NOT_ALLOWED).await,
        Err(Refused::Connect(_)) => socks_reply(&mut client, SOCKS_REFUSED).await,
    }
}

/// The greeting (after its version byte) and the request: the destination, or the
/// reply code that refuses it.
async fn socks_request(client: &mut TcpStream) -> std::io::Result<Result<(String, u16), u8>> {
    let n = client.read_u8().await?;
    let mut methods = vec![0u8; usize::from(n)];
    client.read_exact(&mut methods).await?;
    if !methods.contains(&0) {
        // "No acceptable methods": only no-authentication is offered.
        client.write_all(&[5, 0xff]).await?;
        return Err(std::io::Error::other(
            "the client offers no method without authentication",
        ));
    }
    client.write_all(&[5, 0]).await?;
    let mut head = [0u8; 4];
    client.read_exact(&mut head).await?;
    let [_, command, _, kind] = head;
    let host = match kind {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await?;
            std::net::Ipv4Addr::from(ip).to_string()
        }
        3 => {
            let len = client.read_u8().await?;
            let mut name = vec![0u8; usize::from(len)];
            client.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await?;
            std::net::Ipv6Addr::from(ip).to_string()
        }
        _ => return Ok(Err(SOCKS_NO_ADDRESS_TYPE)),
    };
    let port = client.read_u16().await?;
    if command != 1 {
        return Ok(Err(SOCKS_NO_COMMAND));
    }
    Ok(Ok((host, port)))
}

async fn socks_reply(client: &mut TcpStream, code: u8) -> std::io::Result<()> {
    client.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).await
}

/// Copies both ways until both sides closed, or nothing moved for `idle`.
async fn splice<A, B>(a: &mut A, b: &mut B, idle: Duration) -> std::io::Result<()>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (mut ar, mut aw) = tokio::io::split(a);
    let (mut br, mut bw) = tokio::io::split(b);
    let mut up = vec![0u8; 16 * 1024];
    let mut down = vec![0u8; 16 * 1024];
    let (mut a_open, mut b_open) = (true, true);
    while a_open || b_open {
        tokio::select! {
            read = ar.read(&mut up), if a_open => match read? {
                0 => { a_open = false; bw.shutdown().await?; }
                n => bw.write_all(&up[..n]).await?,
            },
            read = br.read(&mut down), if b_open => match read? {
                0 => { b_open = false; aw.shutdown().await?; }
                n => aw.write_all(&down[..n]).await?,
            },
            _ = tokio::time::sleep(idle) => {
                return Err(std::io::Error::other("the tunnel was idle too long"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot HTTP server on 127.0.0.1 answering `body` to every request.
    async fn origin(body: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(reply.as_bytes()).await;
                });
            }
        });
        addr
    }

    async fn proxy(egress: &str, harness_ports: Vec<u16>) -> (SocketAddr, CancellationToken) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let policy = Arc::new(Policy {
            egress: Egress::parse(egress).unwrap(),
            harness_ports,
        });
        serve(listener, policy, stop.clone()).unwrap();
        (addr, stop)
    }

    async fn exchange(proxy: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(proxy).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn connect_and_absolute_uris_reach_listed_hosts_only() {
        let allowed = origin("hello from origin").await;
        let other = origin("must not be seen").await;
        let (p, stop) = proxy(&format!("127.0.0.1:{}", allowed.port()), vec![]).await;
        let got = exchange(
            p,
            format!("GET http://{allowed}/x HTTP/1.1\r\nHost: {allowed}\r\nProxy-Connection: keep-alive\r\n\r\n").as_bytes(),
        )
        .await;
        assert!(got.contains("hello from origin"), "{got}");
        let got = exchange(
            p,
            format!("CONNECT {allowed} HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert!(
            got.starts_with("HTTP/1.1 200 Connection established"),
            "{got}"
        );
        assert!(got.contains("hello from origin"), "{got}");
        let got = exchange(p, format!("CONNECT {other} HTTP/1.1\r\n\r\n").as_bytes()).await;
        assert!(got.starts_with("HTTP/1.1 403"), "{got}");
        assert!(got.contains("HARNESS_AGENT_EGRESS"), "{got}");
        assert!(!got.contains("must not be seen"), "{got}");
        stop.cancel();
    }

    #[tokio::test]
    async fn the_harness_port_is_refused_even_when_listed() {
        let harness = origin("the harness api").await;
        let (p, _stop) = proxy(
            &format!("127.0.0.1:{}", harness.port()),
            vec![harness.port()],
        )
        .await;
        let got = exchange(p, format!("CONNECT {harness} HTTP/1.1\r\n\r\n").as_bytes()).await;
        assert!(got.starts_with("HTTP/1.1 403"), "{got}");
        assert!(got.contains("harness's own"), "{got}");
    }

    #[tokio::test]
    async fn socks5_connects_to_listed_hosts_and_refuses_the_rest() {
        let allowed = origin("socks ok").await;
        let other = origin("must not be seen").await;
        let (p, _stop) = proxy(&format!("localhost:{}", allowed.port()), vec![]).await;
        let request = |port: u16| {
            let mut r = vec![5, 1, 0, 5, 1, 0, 3, 9];
            r.extend_from_slice(b"localhost");
            r.extend_from_slice(&port.to_be_bytes());
            r
        };
        let mut ok = request(allowed.port());
        ok.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let got = exchange(p, &ok).await;
        assert!(got.as_bytes().starts_with(&[5, 0, 5, 0]), "{got:?}");
        assert!(got.contains("socks ok"), "{got}");
        let got = exchange(p, &request(other.port())).await;
        assert_eq!(
            got.as_bytes(),
            &[5, 0, 5, SOCKS_NOT_ALLOWED, 0, 1, 0, 0, 0, 0, 0, 0]
        );
    }
}
