//! Visitors through a real proxy server to real agents and local services
//! on loopback: curl over HTTP and HTTPS (TLS verified end to end, never
//! terminated by the proxy), two hosts, refusals, deadlines, many visitors.

mod support;

use std::time::Duration;
use support::{Proxy, curl, echo_service, get, http_service, https_service};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_reaches_each_host_through_its_own_agent() {
    let proxy = Proxy::start(|_| {}).await;
    let (alpha, beta) = (http_service("alpha").await, http_service("beta").await);
    let alpha_secret = proxy.register("alpha.example").await;
    let beta_secret = proxy.register("beta.example").await;
    let _a = proxy
        .agent(
            "alpha.example",
            &alpha_secret,
            &[&format!("alpha.example={alpha}")],
            1,
        )
        .await;
    let _b = proxy
        .agent(
            "beta.example",
            &beta_secret,
            &[&format!("beta.example={beta}")],
            0,
        )
        .await;
    let port = proxy.http_port();
    for (host, expected) in [
        ("alpha.example", "alpha /x\n"),
        ("beta.example", "beta /x\n"),
    ] {
        let url = format!("http://{host}:{port}/x");
        let resolve = format!("{host}:{port}:127.0.0.1");
        let (ok, body) = curl(&["--resolve", &resolve, &url]).await;
        assert!(ok, "{body}");
        assert_eq!(body, expected);
    }
    corridor_testkit::wait_until("both counted", || {
        proxy.handle.visitors("http", "spliced") == 2
    })
    .await;
    let metrics = proxy.handle.metrics_text();
    assert!(
        metrics.contains(r#"corridor_proxy_bytes_total{host="alpha.example",direction="out"}"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_verified_end_to_end_and_never_terminated_by_the_proxy() {
    let proxy = Proxy::start(|_| {}).await;
    let (service, ca_pem) = https_service("secure.example").await;
    let secret = proxy.register("secure.example").await;
    let _agent = proxy
        .agent(
            "secure.example",
            &secret,
            &[&format!("secure.example:{}={service}", proxy.https_port())],
            1,
        )
        .await;
    let ca = proxy.dir.path().join("service-ca.pem");
    std::fs::write(&ca, ca_pem).expect("ca file");
    let port = proxy.https_port();
    let url = format!("https://secure.example:{port}/tls");
    let resolve = format!("secure.example:{port}:127.0.0.1");
    let (ok, body) = curl(&[
        "--cacert",
        ca.to_str().unwrap(),
        "--resolve",
        &resolve,
        &url,
    ])
    .await;
    assert!(ok, "{body}");
    assert_eq!(body, "secure.example /tls\n");
    // The proxy's own certificate is not what the visitor verified: with
    // the proxy's CA instead, curl refuses.
    let proxy_cert = proxy.dir.path().join("state/tls/cert.pem");
    let (ok, _) = curl(&[
        "--cacert",
        proxy_cert.to_str().unwrap(),
        "--resolve",
        &resolve,
        &url,
    ])
    .await;
    assert!(!ok, "the visitor's TLS ends at the private service");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_hosts_get_404_hosts_without_agents_502_and_malformed_heads_400() {
    let proxy = Proxy::start(|_| {}).await;
    proxy.register("idle.example").await;
    let port = proxy.http_port();
    assert!(
        get(port, "nobody.example", "/")
            .await
            .starts_with("HTTP/1.1 404")
    );
    assert!(
        get(port, "idle.example", "/")
            .await
            .starts_with("HTTP/1.1 502")
    );
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // Counted just after the answer is written.
    corridor_testkit::wait_until("all three counted", || {
        proxy.handle.visitors("http", "unknown_host") == 1
            && proxy.handle.visitors("http", "no_agent") == 1
            && proxy.handle.visitors("http", "no_host") == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_never_finished_preambles_are_closed() {
    let proxy = Proxy::start(|config| config.limits.preamble_bytes = 1024).await;
    let port = proxy.http_port();
    let mut big = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = format!("GET / HTTP/1.1\r\nX-Padding: {}\r\n", "a".repeat(4096));
    let _ = big.write_all(head.as_bytes()).await;
    let mut answer = String::new();
    let _ = big.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // Half a request, then silence: closed at the deadline (500 ms here).
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: a").await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "closed by the deadline");
    corridor_testkit::wait_until("both counted", || {
        proxy.handle.visitors("http", "too_large") == 1
            && proxy.handle.visitors("http", "handshake_timeout") == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hello_written_a_byte_at_a_time_is_routed_and_replayed_whole() {
    let proxy = Proxy::start(|_| {}).await;
    let echo = echo_service().await;
    let secret = proxy.register("bytes.example").await;
    let _agent = proxy
        .agent(
            "bytes.example",
            &secret,
            &[&format!("bytes.example={echo}")],
            0,
        )
        .await;
    let hello = client_hello("bytes.example");
    let mut visitor = tokio::net::TcpStream::connect(("127.0.0.1", proxy.https_port()))
        .await
        .unwrap();
    visitor.set_nodelay(true).unwrap();
    for byte in &hello {
        visitor.write_all(std::slice::from_ref(byte)).await.unwrap();
    }
    // The echo service got exactly what the visitor sent, sniffed bytes included.
    let mut echoed = vec![0u8; hello.len()];
    tokio::time::timeout(Duration::from_secs(10), visitor.read_exact(&mut echoed))
        .await
        .expect("echo in time")
        .unwrap();
    assert_eq!(echoed, hello);
}

/// A ClientHello as rustls writes it for `name`.
fn client_hello(name: &str) -> Vec<u8> {
    let config = rustls::ClientConfig::builder_with_provider(corridor::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(name.to_owned()).unwrap();
    let mut client = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    hello
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_visitors_are_all_served() {
    let proxy = Proxy::start(|config| {
        config.limits.max_pending_per_agent = 2000;
        config.limits.dialback_timeout = Duration::from_secs(30);
        config.limits.sniff_timeout = Duration::from_secs(30);
    })
    .await;
    let service = http_service("many").await;
    let secret = proxy.register("many.example").await;
    let _agent = proxy
        .agent(
            "many.example",
            &secret,
            &[&format!("many.example={service}")],
            4,
        )
        .await;
    let port = proxy.http_port();
    let mut visitors = tokio::task::JoinSet::new();
    for n in 0..1000 {
        visitors.spawn(async move { (n, get(port, "many.example", &format!("/{n}")).await) });
    }
    while let Some(done) = visitors.join_next().await {
        let (n, answer) = done.unwrap();
        assert!(answer.ends_with(&format!("many /{n}\n")), "{n}: {answer:?}");
    }
    // Counted when the splice ends, just after the visitor read its answer.
    corridor_testkit::wait_until("all counted", || {
        proxy.handle.visitors("http", "spliced") == 1000
    })
    .await;
    assert_eq!(proxy.handle.pending_dialbacks(), 0);
}

/// A local service that reads a PROXY header with the proxy-header crate
/// (an implementation independent of the agent's) and answers with the
/// addresses it names.
async fn proxy_header_reader() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind(support::loopback())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 512];
                let answer = loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let config = proxy_header::ParseConfig::default();
                    match proxy_header::ProxyHeader::parse(&buf, config) {
                        Ok((header, _)) => {
                            let found = header.proxied_address().expect("addresses");
                            break format!("{} {}", found.source, found.destination);
                        }
                        Err(proxy_header::Error::BufferTooShort) => continue,
                        Err(error) => break format!("bad header: {error:?}"),
                    }
                };
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_protocol_v1_and_v2_tell_the_service_the_visitors_address() {
    let proxy = Proxy::start(|_| {}).await;
    let reader = proxy_header_reader().await;
    for version in ["v1", "v2"] {
        let host = format!("{version}.example");
        let secret = proxy.register(&host).await;
        let route = format!("{host}={reader},proxy-protocol={version}");
        let _agent = proxy.agent(&host, &secret, &[&route], 0).await;
        let mut visitor = tokio::net::TcpStream::connect(("127.0.0.1", proxy.http_port()))
            .await
            .unwrap();
        let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        visitor.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(10), visitor.read_to_string(&mut answer))
            .await
            .expect("answer in time")
            .unwrap();
        let expected = format!(
            "{} 127.0.0.1:{}",
            visitor.local_addr().unwrap(),
            proxy.http_port()
        );
        assert_eq!(answer, expected, "{version}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_opening_connections_too_fast_is_closed_at_once() {
    let proxy = Proxy::start(|config| {
        config.limits.per_ip_rate = 1;
        config.limits.per_ip_burst = 2;
    })
    .await;
    let port = proxy.http_port();
    // Two within the burst get an answer (404: no such host); the third is
    // closed before anything is read.
    for _ in 0..2 {
        assert!(
            get(port, "nobody.example", "/")
                .await
                .starts_with("HTTP/1.1 404")
        );
    }
    assert_eq!(get(port, "nobody.example", "/").await, "");
    corridor_testkit::wait_until("counted", || {
        proxy.handle.visitors("http", "rate_limited") == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitors_of_one_host_are_spread_over_its_agents_and_one_leaving_breaks_nothing() {
    let proxy = Proxy::start(|_| {}).await;
    let (left, right) = (http_service("left").await, http_service("right").await);
    let secret = proxy.register("pair.example").await;
    let first = proxy
        .agent(
            "pair.example",
            &secret,
            &[&format!("pair.example={left}")],
            0,
        )
        .await;
    let _second = proxy
        .agent(
            "pair.example",
            &secret,
            &[&format!("pair.example={right}")],
            0,
        )
        .await;
    let port = proxy.http_port();
    let mut seen = std::collections::BTreeSet::new();
    for n in 0..6 {
        let answer = get(port, "pair.example", &format!("/{n}")).await;
        seen.insert(
            answer
                .rsplit("\r\n\r\n")
                .next()
                .unwrap_or("")
                .split(' ')
                .next()
                .map(str::to_owned),
        );
    }
    let both: std::collections::BTreeSet<_> =
        [Some("left".to_owned()), Some("right".to_owned())].into();
    assert_eq!(seen, both, "visitors go to both agents in turn");
    first.shutdown().await;
    for n in 0..4 {
        let answer = get(port, "pair.example", &format!("/after{n}")).await;
        assert!(answer.ends_with(&format!("right /after{n}\n")), "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_closes_pass_through_both_ways() {
    let proxy = Proxy::start(|_| {}).await;
    let echo = echo_service().await;
    let secret = proxy.register("half.example").await;
    let _agent = proxy
        .agent(
            "half.example",
            &secret,
            &[&format!("half.example={echo}")],
            1,
        )
        .await;
    let mut visitor = tokio::net::TcpStream::connect(("127.0.0.1", proxy.http_port()))
        .await
        .unwrap();
    let head = b"POST / HTTP/1.1\r\nHost: half.example\r\n\r\n";
    visitor.write_all(head).await.unwrap();
    visitor.write_all(b"the body").await.unwrap();
    // The visitor is done writing; the service sees the end, echoes what it
    // had, and closes its side, which the visitor sees as the end.
    visitor.shutdown().await.unwrap();
    let mut echoed = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), visitor.read_to_end(&mut echoed))
        .await
        .expect("the service's end arrives")
        .unwrap();
    assert_eq!(echoed, [&head[..], b"the body"].concat());
}
