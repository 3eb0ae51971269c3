//! The ingress proxy under load, beside the same local service reached
//! directly, in one run on this machine:
//!
//! - wrk (Debian's `wrk`, which must be installed) against a small HTTP
//!   service: requests per second and p99, keep-alive and a new connection
//!   per request (the latter is also new visitor connections per second);
//! - one connection's bulk throughput to a sink;
//! - setup latency of a new connection, with and without warm data
//!   connections at the agent;
//! - the sniffers' own cost per preamble, and the server's accept-to-host
//!   time from its histogram.
//!
//! `cargo bench -p corridor-proxy --bench proxy [-- --seconds N --connections N --bulk-mib N --setups N]`

use corridor::listener::http::serve_http;
use corridor_proxy::{Agent, AgentConfig, Limits, ProxyConfig, ProxyServer, Routes, ServerTrust};
use corridor_testkit::bench::{answer_byte_count, flag, for_seconds, percentile, runtime};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A keep-alive HTTP/1.1 service answering "hello\n".
async fn hello_service(stop: CancellationToken) -> SocketAddr {
    let listener = TcpListener::bind(loopback()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let stop = stop.clone();
            tokio::spawn(async move {
                let handler = |_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from_static(b"hello\n")),
                    ))
                };
                serve_http(stream, handler, Duration::from_secs(10), &stop).await;
            });
        }
    });
    addr
}

/// Reads everything, then answers with the byte count.
async fn sink_service() -> SocketAddr {
    let listener = TcpListener::bind(loopback()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer_byte_count(stream));
        }
    });
    addr
}

/// A plain TCP forwarder to `target`: the floor of any design that puts a
/// public server and an agent between visitor and service (two user-space
/// hops, no TLS, no sniffing, no dial-back).
async fn forwarder(target: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind(loopback()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(target).await else {
                    return;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional_with_sizes(
                    &mut inbound,
                    &mut outbound,
                    64 * 1024,
                    64 * 1024,
                )
                .await;
            });
        }
    });
    addr
}

/// TCP connections with a TLS handshake per second, both ends in this
/// process, as every visitor's data connection needs one: with the new
/// connections the two hops already make, the floor of a per-visitor
/// dial-back over TLS.
async fn tls_connections_per_second(state: &std::path::Path, pin: &str, seconds: u64) -> f64 {
    let files = corridor::tls::ServerTlsFiles {
        cert: state.join("tls/cert.pem"),
        key: state.join("tls/key.pem"),
        client_ca: None,
    };
    let acceptor =
        tokio_rustls::TlsAcceptor::from(corridor::tls::load_server_config(&files).expect("tls"));
    let listener = TcpListener::bind(loopback()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tls.write_all(b"k").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    let client = corridor::tls::client_config(pin).expect("pin");
    let started = Instant::now();
    let count = for_seconds(32, seconds, |until| {
        let connector = tokio_rustls::TlsConnector::from(client.clone());
        async move {
            let mut done = 0;
            while Instant::now() < until {
                let tcp = TcpStream::connect(addr).await.expect("connect");
                let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
                let mut tls = connector.connect(name, tcp).await.expect("handshake");
                let mut byte = [0u8; 1];
                tls.read_exact(&mut byte).await.expect("byte");
                done += 1;
            }
            done
        }
    })
    .await;
    server.abort();
    count as f64 / started.elapsed().as_secs_f64()
}

struct Wrk {
    rps: f64,
    p50: Duration,
    p99: Duration,
}

fn duration(text: &str) -> Duration {
    let (number, unit) = text.split_at(
        text.find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(text.len()),
    );
    let value: f64 = number.parse().unwrap_or(f64::NAN);
    let seconds = match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        _ => f64::NAN,
    };
    Duration::try_from_secs_f64(seconds).unwrap_or_default()
}

fn wrk(port: u16, host: &str, connections: u64, seconds: u64, close: bool) -> Wrk {
    let mut command = std::process::Command::new("wrk");
    command.args([
        "-t1",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
        "-H",
        &format!("Host: {host}"),
    ]);
    if close {
        command.args(["-H", "Connection: close"]);
    }
    let out = command
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(|rest| rest.trim().to_owned())
            .unwrap_or_default()
    };
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        eprintln!("wrk saw errors:\n{text}");
    }
    Wrk {
        rps: field("Requests/sec:").parse().unwrap_or(f64::NAN),
        p50: duration(&field("50%")),
        p99: duration(&field("99%")),
    }
}

/// Time to push `mib` MiB through `port` (with `preamble` first) to the sink.
async fn bulk(addr: SocketAddr, preamble: &[u8], mib: u64) -> f64 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let chunk = vec![0x5a_u8; 1024 * 1024];
    let started = Instant::now();
    stream.write_all(preamble).await.expect("preamble");
    for _ in 0..mib {
        stream.write_all(&chunk).await.expect("write");
    }
    stream.shutdown().await.expect("shutdown");
    let mut count = [0u8; 8];
    stream.read_exact(&mut count).await.expect("count");
    let took = started.elapsed().as_secs_f64();
    assert_eq!(
        u64::from_be_bytes(count),
        mib * 1024 * 1024 + preamble.len() as u64
    );
    (mib as f64) / took
}

/// New-connection request latencies, one at a time.
async fn setups(addr: SocketAddr, host: &str, count: u64) -> Vec<Duration> {
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let mut samples = Vec::new();
    for _ in 0..count {
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let _ = stream.set_nodelay(true);
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("read");
        assert!(
            answer.ends_with(b"hello\n"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        samples.push(started.elapsed());
    }
    samples
}

fn sniffer_cost() -> (Duration, Duration) {
    let head = b"GET /index.html HTTP/1.1\r\nHost: app.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nAccept-Encoding: gzip\r\n\r\n";
    let config = rustls::ClientConfig::builder_with_provider(corridor::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("app.example.com").expect("name");
    let mut client =
        rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("client");
    let mut hello = Vec::new();
    client.write_tls(&mut hello).expect("hello");
    let rounds = 200_000u32;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(corridor_proxy::sniff::http::host(std::hint::black_box(head)).ok());
    }
    let http = started.elapsed() / rounds;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(
            corridor_proxy::sniff::tls::server_name(std::hint::black_box(&hello), 16 * 1024).ok(),
        );
    }
    (http, started.elapsed() / rounds)
}

/// The upper bound of the histogram bucket holding the median.
fn median_bucket(metrics: &str, name: &str) -> String {
    let buckets: Vec<(String, f64)> = metrics
        .lines()
        .filter_map(|line| line.strip_prefix(&format!("{name}_bucket{{le=\"")))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            Some((le.to_owned(), count.parse().ok()?))
        })
        .collect();
    let total = buckets.last().map(|(_, count)| *count).unwrap_or(0.0);
    buckets
        .iter()
        .find(|(_, count)| *count >= total / 2.0)
        .map(|(le, _)| format!("<= {le} s"))
        .unwrap_or_else(|| "no samples".into())
}

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1e3)
}

fn main() {
    let seconds = flag("seconds", 5);
    let connections = flag("connections", 32);
    let bulk_mib = flag("bulk-mib", 1024);
    let setup_count = flag("setups", 500);
    let runtime = runtime();
    let stop = CancellationToken::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let (proxy, hello, sink, hops) = runtime.block_on(async {
        let mut config = ProxyConfig::local(dir.path().join("state"));
        config.http = vec![loopback()];
        config.https = vec![loopback()];
        config.api = loopback();
        config.data = loopback();
        config.limits = Limits {
            max_pending_per_agent: 4096,
            // Every visitor comes from 127.0.0.1 here.
            per_ip_rate: 0,
            ..Limits::default()
        };
        let server = ProxyServer::bind(config).await.expect("proxy");
        let ready = server.ready().clone();
        let handle = server.handle();
        tokio::spawn(server.serve());
        let hello = hello_service(stop.clone()).await;
        let sink = sink_service().await;
        let hops = (
            forwarder(forwarder(hello).await).await,
            forwarder(forwarder(sink).await).await,
        );
        ((ready, handle), hello, sink, hops)
    });
    let ((ready, handle), port) = (proxy.clone(), proxy.0.http[0].port());
    let api: corridor_proxy::ApiUrl = format!("wss://{}/api", ready.api).parse().expect("url");
    let trust = ServerTrust::Pin(ready.pin.clone().expect("pin"));
    let token = std::fs::read_to_string(&ready.admin_token_file).expect("token");
    let agents: Vec<Agent> = runtime.block_on(async {
        let mut admin = corridor_proxy::ApiClient::connect(&api, &trust, Some(token.trim()))
            .await
            .expect("admin");
        let mut agents = Vec::new();
        for (host, target, warm) in [
            ("bench.example", hello, 8),
            ("cold.example", hello, 0),
            ("bulk.example", sink, 0),
        ] {
            let answer = admin
                .call("proxy.register", serde_json::json!({"host": host}))
                .await
                .expect("register");
            let mut config = AgentConfig::new(api.clone(), trust.clone());
            config.subscriptions = vec![(
                host.into(),
                answer["secret"].as_str().expect("secret").into(),
            )];
            let mut routes = Routes::default();
            routes.add(&format!("{host}={target}")).expect("route");
            config.routes = routes;
            config.warm = warm;
            let agent = Agent::spawn(config);
            agent
                .subscribed(Duration::from_secs(10))
                .await
                .expect("subscribed");
            agents.push(agent);
        }
        agents
    });

    println!(
        "corridor proxy: {seconds} s per wrk run, {connections} connections, one wrk thread; 2 cores shared by wrk, proxy, agent and service"
    );
    println!(
        "two hops: two plain TCP forwarders in a chain (no TLS, sniffing or dial-back), the floor of a server + agent design"
    );
    for (name, close) in [("keep-alive", false), ("new connection", true)] {
        let direct = wrk(hello.port(), "bench.example", connections, seconds, close);
        let hopped = wrk(hops.0.port(), "bench.example", connections, seconds, close);
        let proxied = wrk(port, "bench.example", connections, seconds, close);
        println!(
            "{name:<15} direct {:>7.0} req/s p99 {} | two hops {:>7.0} req/s p99 {} | proxy {:>7.0} req/s p50 {} p99 {} | proxy/direct {:.2}, proxy/two hops {:.2}",
            direct.rps,
            ms(direct.p99),
            hopped.rps,
            ms(hopped.p99),
            proxied.rps,
            ms(proxied.p50),
            ms(proxied.p99),
            proxied.rps / direct.rps,
            proxied.rps / hopped.rps
        );
    }

    let tls_rate = runtime.block_on(tls_connections_per_second(
        &dir.path().join("state"),
        ready.pin.as_deref().expect("pin"),
        seconds,
    ));
    println!(
        "TLS connections  {tls_rate:>7.0} per second (TCP connect + TLS 1.3 handshake, 32 at once, both ends here): each visitor's data connection costs one"
    );

    let (direct, hopped, proxied) = runtime.block_on(async {
        let direct = bulk(sink, b"", bulk_mib).await;
        let hopped = bulk(hops.1, b"", bulk_mib).await;
        let preamble = b"GET /bulk HTTP/1.1\r\nHost: bulk.example\r\n\r\n";
        let proxied = bulk(SocketAddr::from(([127, 0, 0, 1], port)), preamble, bulk_mib).await;
        (direct, hopped, proxied)
    });
    println!(
        "bulk, 1 conn    direct {direct:>7.0} MiB/s | two hops {hopped:>7.0} MiB/s | proxy {proxied:>7.0} MiB/s | proxy/direct {:.2}, proxy/two hops {:.2}",
        proxied / direct,
        proxied / hopped
    );

    runtime.block_on(async {
        let proxy_addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut direct = setups(hello, "bench.example", setup_count).await;
        let mut warm = setups(proxy_addr, "bench.example", setup_count).await;
        let mut cold = setups(proxy_addr, "cold.example", setup_count).await;
        let line = |name: &str, samples: &mut Vec<Duration>| {
            format!(
                "{name} p50 {} p99 {}",
                ms(percentile(samples, 0.5)),
                ms(percentile(samples, 0.99))
            )
        };
        println!(
            "setup, 1 at a time  {} | {} | {}",
            line("direct", &mut direct),
            line("proxy warm pool", &mut warm),
            line("proxy no pool", &mut cold)
        );
        let added = |samples: &mut Vec<Duration>, direct: &mut Vec<Duration>| {
            ms(percentile(samples, 0.99).saturating_sub(percentile(direct, 0.99)))
        };
        println!(
            "setup added at p99: warm pool {} , no pool {}",
            added(&mut warm, &mut direct),
            added(&mut cold, &mut direct)
        );
    });

    let (http, tls) = sniffer_cost();
    println!(
        "sniffers          http Host {:.2} us, TLS SNI {:.2} us per preamble; accept-to-host median {}",
        http.as_secs_f64() * 1e6,
        tls.as_secs_f64() * 1e6,
        median_bucket(&handle.metrics_text(), "corridor_proxy_sniff_seconds")
    );
    runtime.block_on(async {
        for agent in agents {
            agent.shutdown().await;
        }
        handle.shutdown();
    });
    stop.cancel();
}
