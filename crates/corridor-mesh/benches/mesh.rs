//! The mesh transport under load, in one process on loopback:
//!
//! - small (256 B) messages one way between two nodes, per second;
//! - round trips (a message and its reply) unloaded, p50 and p99;
//! - broadcast to 50 peers: time until all 50 handled it, p50 and p99;
//! - memory per idle connection: the RSS of a hub node in a process of its
//!   own, before and after 2,000 peers connect and go quiet;
//! - handshakes (connect, Noise XX, hello, registration) per second.
//!
//! Beside them, the same run measures raw loopback TCP with 256 B writes
//! and one-byte round trips, the floor any transport stands on here.
//!
//! `cargo bench -p corridor-mesh --bench mesh [-- [all|one-way|round-trip|broadcast|handshakes|idle] --seconds N --idle N]`

use corridor_mesh::{Message, NodeIdentity, Role, Transport, TransportConfig};
use corridor_testkit::bench::{flag, for_seconds, mode, percentile, runtime};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

fn config() -> TransportConfig {
    TransportConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        max_conns: 10_000,
        // The benchmark measures the transport, not the flood guard.
        rate_per_second: u32::MAX,
        rate_burst: u32::MAX,
        dedup_capacity: 10_000_000,
        ..TransportConfig::default()
    }
}

fn node(name: &str) -> Transport {
    Transport::new(config(), NodeIdentity::generate(name, Role::Dual))
}

fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn tcp_floor(seconds: u64) -> (f64, Duration) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let counted = Arc::new(AtomicU64::new(0));
    let count = counted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    if n == 1 {
                        let _ = stream.write_all(&buf[..1]).await;
                    }
                    count.fetch_add(n as u64, Ordering::Relaxed);
                }
            });
        }
    });
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let message = [7u8; 256];
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    while Instant::now() < until {
        stream.write_all(&message).await.expect("write");
    }
    drop(stream);
    let rate = counted.load(Ordering::Relaxed) as f64 / 256.0 / started.elapsed().as_secs_f64();
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut samples = Vec::new();
    for _ in 0..2000 {
        let started = Instant::now();
        stream.write_all(&[1]).await.expect("write");
        let mut one = [0u8; 1];
        stream.read_exact(&mut one).await.expect("read");
        samples.push(started.elapsed());
    }
    (rate, percentile(&mut samples, 0.99))
}

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1e3)
}

fn main() {
    if std::env::args().any(|arg| arg == "--idle-hub") {
        return runtime().block_on(idle_hub());
    }
    let what = mode(
        &[
            "all",
            "one-way",
            "round-trip",
            "broadcast",
            "handshakes",
            "idle",
        ],
        "all",
    );
    let seconds = flag("seconds", 5);
    let idle = flag("idle", 2000) as usize;
    let runs = |section: &str| what == "all" || what == section;
    runtime().block_on(async {
        let (tcp_rate, tcp_p99) = tcp_floor(seconds).await;
        println!(
            "raw TCP floor: {tcp_rate:>9.0} writes of 256 B/s one way; one-byte round trip p99 {}",
            ms(tcp_p99)
        );
        if runs("one-way") {
            one_way(seconds, tcp_rate).await;
        }
        if runs("round-trip") {
            round_trip().await;
        }
        if runs("broadcast") {
            broadcast().await;
        }
        if runs("handshakes") {
            handshakes(seconds).await;
        }
        if runs("idle") {
            idle_connections(idle).await;
        }
    });
}

/// One way: a sends 256 B messages as fast as its queue takes them.
async fn one_way(seconds: u64, tcp_rate: f64) {
    let (a, b) = (node("a"), node("b"));
    let received = Arc::new(AtomicU64::new(0));
    let count = received.clone();
    b.on_message(move |_, _| {
        count.fetch_add(1, Ordering::Relaxed);
        async {}
    });
    let b_addr = b.start().await.expect("b");
    let peer = a
        .connect(&format!("ws://{b_addr}/ws"), Some(b.public_key()))
        .await
        .expect("connect");
    let payload = "x".repeat(256);
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut sent = 0u64;
    while Instant::now() < until {
        let message = Message::new("small", &payload).expect("message");
        a.send(&peer.id, message).await.expect("send");
        sent += 1;
    }
    // Until the last one queued has been handled.
    let deadline = Instant::now() + Duration::from_secs(30);
    while received.load(Ordering::Relaxed) < sent && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let delivered = received.load(Ordering::Relaxed);
    println!(
        "one way, 256 B: {:>9.0} messages/s delivered ({delivered} of {sent} sent; receiver's drops: {:?}) | ratio to raw TCP writes {:.3}",
        delivered as f64 / elapsed,
        b.stats()
            .iter()
            .filter(|(name, _)| name.starts_with("dropped"))
            .collect::<Vec<_>>(),
        delivered as f64 / elapsed / tcp_rate
    );
}

/// Round trips: c answers every "ping" with a "pong".
async fn round_trip() {
    let (c, d) = (node("c"), node("d"));
    let replier = c.clone();
    c.on_message(move |peer, message| {
        let replier = replier.clone();
        async move {
            let mut pong = Message::new("pong", &()).expect("pong");
            pong.reply_to = Some(message.id);
            let _ = replier.send(&peer.id, pong).await;
        }
    });
    let (answers, mut pongs) = mpsc::unbounded_channel();
    d.on_message(move |_, message| {
        let _ = answers.send(message);
        async {}
    });
    let c_addr = c.start().await.expect("c");
    let c_peer = d
        .connect(&format!("ws://{c_addr}/ws"), None)
        .await
        .expect("connect");
    let mut samples = Vec::new();
    for _ in 0..2000 {
        let started = Instant::now();
        d.send(&c_peer.id, Message::new("ping", &()).expect("ping"))
            .await
            .expect("send");
        pongs.recv().await.expect("pong");
        samples.push(started.elapsed());
    }
    println!(
        "round trip, unloaded: p50 {} p99 {} (one way about half)",
        ms(percentile(&mut samples, 0.5)),
        ms(percentile(&mut samples, 0.99))
    );
}

/// Broadcast to 50 peers, until all 50 handled it.
async fn broadcast() {
    let payload = "x".repeat(256);
    let hub = node("hub");
    let hub_addr = hub.start().await.expect("hub");
    let (heard, mut hearings) = mpsc::unbounded_channel::<()>();
    let mut spokes = Vec::new();
    for n in 0..50 {
        let spoke = node(&format!("s{n}"));
        let heard = heard.clone();
        spoke.on_message(move |_, _| {
            let _ = heard.send(());
            async {}
        });
        spoke
            .connect(&format!("ws://{hub_addr}/ws"), Some(hub.public_key()))
            .await
            .expect("spoke");
        spokes.push(spoke);
    }
    let mut samples = Vec::new();
    for _ in 0..300 {
        let started = Instant::now();
        let reached = hub
            .broadcast(Message::new("news", &payload).expect("news"))
            .expect("broadcast");
        assert_eq!(reached, 50);
        for _ in 0..50 {
            hearings.recv().await.expect("heard");
        }
        samples.push(started.elapsed());
    }
    println!(
        "broadcast to 50 peers, until all handled it: p50 {} p99 {}",
        ms(percentile(&mut samples, 0.5)),
        ms(percentile(&mut samples, 0.99))
    );
    for spoke in spokes {
        spoke.stop().await;
    }
}

/// Handshakes per second: connect and close, 8 at once.
async fn handshakes(seconds: u64) {
    let target = node("target");
    let target_addr = target.start().await.expect("target");
    let url = format!("ws://{target_addr}/ws");
    let key = target.public_key();
    let started = Instant::now();
    let done = for_seconds(8, seconds, |until| {
        let url = url.clone();
        async move {
            let mut count = 0;
            while Instant::now() < until {
                let dialler = node("dialler");
                dialler.connect(&url, Some(key)).await.expect("handshake");
                dialler.stop().await;
                count += 1;
            }
            count
        }
    })
    .await;
    println!(
        "handshakes (TCP, WebSocket upgrade, Noise IK, hello, registration): {:>7.0}/s",
        done as f64 / started.elapsed().as_secs_f64()
    );
}

/// The hub of the idle measurement, run as this benchmark's child: prints
/// its address, then answers each line on stdin with its peer count, until
/// stdin closes.
async fn idle_hub() {
    use tokio::io::AsyncBufReadExt as _;
    let hub = node("idle-hub");
    let addr = hub.start().await.expect("idle hub");
    println!("{addr}");
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(_)) = lines.next_line().await {
        println!("{}", hub.connected_peers());
    }
}

/// RSS of a hub in its own process, before and after `idle` peers connect.
async fn idle_connections(idle: usize) {
    use std::io::{BufRead as _, Write as _};
    let mut child = std::process::Command::new(std::env::current_exe().expect("own path"))
        .arg("--idle-hub")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the hub");
    let pid = child.id().to_string();
    let mut ask = child.stdin.take().expect("stdin");
    let mut answers = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = answers.next().expect("hub address").expect("read");
    let url = format!("ws://{addr}/ws");
    let before = rss_kib(&pid);
    let own_before = rss_kib("self");
    let mut clients = Vec::with_capacity(idle);
    for _ in 0..idle {
        let client = node("idle");
        client.connect(&url, None).await.expect("idle connect");
        clients.push(client);
    }
    // Until the hub holds them all.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        writeln!(ask, "count").expect("ask");
        let held: usize = answers
            .next()
            .expect("count")
            .expect("read")
            .parse()
            .expect("number");
        if held >= idle || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Let the handshakes' transient buffers go back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(&pid);
    let own_after = rss_kib("self");
    println!(
        "idle connections: {idle} held by a hub in its own process, RSS {before} KiB -> {after} KiB: {:.1} KiB per connection (the {idle} dialling nodes here, one connection each: {:.1} KiB per node)",
        after.saturating_sub(before) as f64 / idle as f64,
        own_after.saturating_sub(own_before) as f64 / idle as f64,
    );
    drop(ask);
    let _ = child.wait();
    for client in clients {
        client.stop().await;
    }
}
