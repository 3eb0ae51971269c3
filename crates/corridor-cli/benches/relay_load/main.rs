//! End-to-end load tool for `corridor relay`, with its baselines measured in
//! the same run:
//!
//! - throughput of one yamux byte stream between two flowersec-crate
//!   endpoints through the relay, against the same endpoints connected
//!   directly, through a blind TCP hop, and against raw loopback TCP;
//! - one channel's capacity with endpoints that cost almost nothing, against
//!   raw TCP through the blind hop, with each hop's CPU per GiB;
//! - small-message round trips through raw TCP, the blind hop and the relay;
//! - attach-to-first-frame latency (p50/p99) and pairings per second;
//! - relay RSS per idle paired channel;
//! - churn: channels opened, used once each way and closed at a fixed rate
//!   for minutes, with fresh tokens (refusals, RSS and open files over time);
//! - slowloris: fresh channels attaching while 3,000 slow connections hold
//!   and retake the handshake places.
//!
//! The relay runs as its own process (the real `corridor` binary), so its
//! memory is its own. Run with
//! `cargo bench -p corridor-cli --bench relay_load -- [all|throughput|pairing|idle|churn|slowloris] [--channels N] [--mib N]`
//! (churn: `[--rate N] [--seconds N] [--warmup N]`; `--rate 0` as fast as the generator can).
//! Not a test: it prints figures and asserts nothing.

use corridor_core::Role;
use corridor_core::grant::{self, GrantPair, GrantParams};
use corridor_core::keys::IssuerKey;
use corridor_core::token::{self, Claims};
use corridor_testkit::bench;
use flowersec::client::ConnectOptions;
use flowersec::endpoint::{DirectAcceptOptions, EndpointOptions};
use flowersec::transport::TungsteniteTransport;
use flowersec::transport_security::TransportSecurityPolicy;
use futures_util::{SinkExt as _, StreamExt as _};
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

mod churn;
mod slowloris;

const AUD: &str = "bench-aud";
const ISS: &str = "bench-iss";
const CHUNK: usize = 64 * 1024;

/// User + system CPU time from a `/proc/.../stat` file: a process's, or a
/// thread's (`/proc/thread-self/stat`).
fn cpu_time(stat_path: &str) -> Duration {
    let stat = std::fs::read_to_string(stat_path).expect("stat");
    // Fields after the command name: utime and stime are the 12th and 13th.
    let after_name = stat.rsplit_once(')').expect("stat format").1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// The machine's idle and total CPU time so far, in ticks (`/proc/stat`).
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .expect("cpu line")
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().expect("ticks"))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is in user).
    let total = fields.iter().take(8).sum();
    (fields[3] + fields[4], total)
}

struct RelayProcess {
    child: Child,
    ws_url: String,
    metrics_addr: String,
    key: IssuerKey,
    _dir: tempfile::TempDir,
}

impl RelayProcess {
    fn start() -> RelayProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = IssuerKey::generate("bench", &mut rand_core::OsRng).expect("key");
        let keys_file = dir.path().join("issuer_keys.json");
        std::fs::write(&keys_file, key.to_public_json()).expect("write keys");
        // CORRIDOR_BENCH_RELAY_WRAPPER runs the relay under a tool
        // (e.g. "valgrind --tool=massif") for profiling.
        let wrapper = std::env::var("CORRIDOR_BENCH_RELAY_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut command = match words.next() {
            Some(tool) => {
                let mut command = Command::new(tool);
                command.args(words).arg(env!("CARGO_BIN_EXE_corridor"));
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_corridor")),
        };
        let mut child = command
            .args(["relay", "--listen", "127.0.0.1:0", "--allow-no-origin"])
            .args(["--aud", AUD, "--iss", ISS])
            .arg("--issuer-keys-file")
            .arg(&keys_file)
            .args(["--max-conns", "40000", "--max-channels", "20000"])
            .args(["--metrics-listen", "127.0.0.1:0"])
            // Extra relay flags for experiments, e.g. "--ws-read-buffer-bytes 4096".
            .args(
                std::env::var("CORRIDOR_BENCH_RELAY_ARGS")
                    .unwrap_or_default()
                    .split_whitespace(),
            )
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn corridor relay");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready line");
        let ready: serde_json::Value = serde_json::from_str(&line).expect("ready JSON");
        RelayProcess {
            child,
            ws_url: ready["ws_url"].as_str().expect("ws_url").to_owned(),
            metrics_addr: ready["metrics_url"]
                .as_str()
                .and_then(|url| url.strip_prefix("http://"))
                .and_then(|rest| rest.strip_suffix("/metrics"))
                .expect("metrics_url")
                .to_owned(),
            key,
            _dir: dir,
        }
    }

    fn grants(&self, channel: &str, idle_timeout_secs: i32) -> GrantPair {
        let params = GrantParams {
            tunnel_url: self.ws_url.clone(),
            audience: AUD.into(),
            issuer: ISS.into(),
            idle_timeout_secs,
            init_window_secs: 110,
            token_exp_secs: 110,
            ..GrantParams::default()
        };
        grant::mint(&self.key, &params, channel, now(), &mut rand_core::OsRng).expect("mint")
    }

    /// A server and a client token for `channel`, minted together as a
    /// control plane mints them: both must carry the same `init_exp`.
    fn token_pair(&self, channel: &str, idle_timeout_seconds: i32) -> [String; 2] {
        self.token_pair_valid_for(channel, idle_timeout_seconds, 110)
    }

    /// [`RelayProcess::token_pair`] with tokens valid for `lifetime_secs`.
    fn token_pair_valid_for(
        &self,
        channel: &str,
        idle_timeout_seconds: i32,
        lifetime_secs: i64,
    ) -> [String; 2] {
        let now = now();
        [Role::Server, Role::Client].map(|role| {
            let mut id = [0u8; 18];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
            let claims = Claims {
                kid: "bench".into(),
                aud: AUD.into(),
                iss: ISS.into(),
                channel_id: channel.into(),
                role,
                token_id: corridor_core::b64::encode(id),
                init_exp: now + lifetime_secs,
                idle_timeout_seconds,
                iat: now,
                exp: now + lifetime_secs,
            };
            token::sign(self.key.signing_key(), claims).expect("sign")
        })
    }

    /// CPU time the relay process has used (user + system).
    fn cpu_time(&self) -> Duration {
        cpu_time(&format!("/proc/{}/stat", self.child.id()))
    }

    /// One sample from the relay's /metrics (0 if absent): `series` is the
    /// name with its labels as the exposition writes them.
    fn metric(&self, series: &str) -> f64 {
        use std::io::{Read as _, Write as _};
        let mut http = std::net::TcpStream::connect(&self.metrics_addr).expect("metrics connect");
        http.write_all(b"GET /metrics HTTP/1.0\r\nHost: relay\r\n\r\n")
            .expect("metrics request");
        let mut text = String::new();
        http.read_to_string(&mut text).expect("metrics response");
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Open file descriptors of the relay process.
    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .expect("relay fds")
            .count()
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("relay status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        // SIGTERM, so a profiler wrapping the relay gets to write its report.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn mib_per_s(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64()
}

/// Raw loopback TCP: the same bytes, one way, then a one-byte ack.
/// `bytes` over loopback TCP, directly or through a [`tcp_hop`]: the
/// transfer time, and the CPU time the hop used (zero without one).
async fn raw_tcp(bytes: usize, through_hop: bool) -> (Duration, Duration) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server_addr = listener.local_addr().expect("addr");
    let (addr, hop) = maybe_hop(server_addr, through_hop);
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0;
        while got < bytes {
            got += stream.read(&mut buf).await.expect("read");
        }
        stream.write_all(&[1]).await.expect("ack");
    });
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let chunk = vec![7u8; CHUNK];
    let started = Instant::now();
    let mut sent = 0;
    while sent < bytes {
        stream.write_all(&chunk).await.expect("write");
        sent += CHUNK;
    }
    let mut ack = [0u8; 1];
    stream.read_exact(&mut ack).await.expect("ack");
    let elapsed = started.elapsed();
    server.await.expect("server");
    drop(stream);
    (elapsed, hop_cpu(hop).await)
}

/// One channel's forwarding capacity, with endpoints that cost almost
/// nothing: plain 64 KiB WebSocket messages (no crypto) from client to
/// server through the relay, the last one acknowledged.
async fn plain_ws_via_relay(relay: &RelayProcess, channel: &str, bytes: usize) -> Duration {
    let tokens = relay.token_pair(channel, 60);
    let (mut server, mut client, _) = attach_pair(relay, channel.to_owned(), tokens).await;
    let reader = tokio::spawn(async move {
        let mut got = 0;
        while got < bytes {
            got += next_binary(&mut server, "capacity").await.len();
        }
        server.send(Message::binary(vec![1])).await.expect("ack");
        server
    });
    let message = Message::binary(vec![7u8; CHUNK]);
    let started = Instant::now();
    let mut sent = 0;
    while sent < bytes {
        client.feed(message.clone()).await.expect("send");
        sent += CHUNK;
    }
    client.flush().await.expect("flush");
    next_binary(&mut client, "ack").await;
    let elapsed = started.elapsed();
    drop(reader.await.expect("reader"));
    elapsed
}

/// `target` itself, or a [`tcp_hop`] in front of it.
fn maybe_hop(
    target: SocketAddr,
    through_hop: bool,
) -> (SocketAddr, Option<std::thread::JoinHandle<Duration>>) {
    if through_hop {
        let (addr, hop) = tcp_hop(target);
        (addr, Some(hop))
    } else {
        (target, None)
    }
}

/// The CPU time a hop used, once its connection has ended (zero without one).
async fn hop_cpu(hop: Option<std::thread::JoinHandle<Duration>>) -> Duration {
    match hop {
        Some(hop) => tokio::task::spawn_blocking(move || hop.join().expect("hop thread"))
            .await
            .expect("join hop"),
        None => Duration::ZERO,
    }
}

/// Pushes `bytes` through a flowersec stream and waits for the peer's ack.
async fn push(stream: flowersec::yamux::YamuxStream, bytes: usize) -> Duration {
    let chunk = vec![7u8; CHUNK];
    let started = Instant::now();
    let mut sent = 0;
    while sent < bytes {
        stream.write(&chunk).await.expect("write");
        sent += CHUNK;
    }
    let ack = stream.read().await.expect("ack").expect("ack bytes");
    assert_eq!(ack, b"k");
    let elapsed = started.elapsed();
    let _ = stream.close().await;
    elapsed
}

/// The server side: drain `bytes` from the "bench" stream (the client also
/// opens its "rpc" stream on connect), then ack.
async fn drain_bench_stream(session: &flowersec::endpoint::Session, bytes: usize) {
    let stream = loop {
        let (kind, stream) = session.accept_stream().await.expect("accept stream");
        if kind == "bench" {
            break stream;
        }
    };
    let mut got = 0;
    while got < bytes {
        got += stream.read().await.expect("read").expect("data").len();
    }
    stream.write(b"k").await.expect("ack");
    let _ = stream.read().await;
}

/// Buffer per direction of the TCP hop: large, so the hop costs few syscalls.
const HOP_BUFFER: usize = 256 * 1024;

/// A blind TCP hop in a thread of its own (`copy_bidirectional`, cut-through
/// at the byte level, no framing): what a hop costs with the least work.
/// The thread ends with the connection and returns the CPU time it used.
fn tcp_hop(target: SocketAddr) -> (SocketAddr, std::thread::JoinHandle<Duration>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind hop");
    let addr = listener.local_addr().expect("hop addr");
    let hop = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("hop runtime");
        runtime.block_on(async move {
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = TcpListener::from_std(listener).expect("hop listener");
            let (mut inbound, _) = listener.accept().await.expect("hop accept");
            let mut outbound = TcpStream::connect(target).await.expect("hop connect");
            inbound.set_nodelay(true).expect("nodelay");
            outbound.set_nodelay(true).expect("nodelay");
            let _ = tokio::io::copy_bidirectional_with_sizes(
                &mut inbound,
                &mut outbound,
                HOP_BUFFER,
                HOP_BUFFER,
            )
            .await;
        });
        cpu_time("/proc/thread-self/stat")
    });
    (addr, hop)
}

/// Two flowersec endpoints connected directly, or through a [`tcp_hop`]:
/// the transfer time, and the CPU time the hop used (zero without one).
async fn flowersec_direct(bytes: usize, through_hop: bool) -> (Duration, Duration) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server_addr = listener.local_addr().expect("addr");
    let (addr, hop) = maybe_hop(server_addr, through_hop);
    let psk = [5u8; 32];
    let init_exp = now() + 110;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        tcp.set_nodelay(true).expect("nodelay");
        let transport = TungsteniteTransport::accept(tcp).await.expect("ws accept");
        let mut handshake = flowersec::e2ee::ServerHandshakeOptions::new(
            flowersec::e2ee::Secret32::new(psk),
            flowersec::e2ee::Suite::X25519HkdfSha256Aes256Gcm,
            init_exp,
        );
        handshake.channel_id = Some("direct".into());
        let session = flowersec::endpoint::accept_direct(
            Arc::new(transport),
            DirectAcceptOptions::new(handshake),
        )
        .await
        .expect("direct accept");
        drain_bench_stream(&session, bytes).await;
    });
    let info = flowersec::generated::flowersec::direct::v1::DirectConnectInfo {
        ws_url: format!("ws://{addr}/"),
        channel_id: "direct".into(),
        e2ee_psk_b64u: corridor_core::b64::encode(psk),
        channel_init_expire_at_unix_s: init_exp,
        default_suite:
            flowersec::generated::flowersec::direct::v1::Suite::X25519HkdfSha256Aes256Gcm,
    };
    let client = flowersec::connect_direct(info, connect_options())
        .await
        .expect("direct connect");
    let stream = client.open_stream("bench").await.expect("open");
    let elapsed = push(stream, bytes).await;
    server.await.expect("server");
    drop(client);
    (elapsed, hop_cpu(hop).await)
}

fn connect_options() -> ConnectOptions {
    ConnectOptions {
        transport_security_policy: TransportSecurityPolicy::allow_plaintext_for_loopback(),
        ..ConnectOptions::default()
    }
}

fn to_flowersec(
    grant: &corridor_core::grant::ChannelInitGrant,
) -> flowersec::generated::flowersec::controlplane::v1::ChannelInitGrant {
    serde_json::from_value(serde_json::to_value(grant).expect("json")).expect("grant")
}

async fn flowersec_via_relay(relay: &RelayProcess, channel: &str, bytes: usize) -> Duration {
    let pair = relay.grants(channel, 60);
    let server_grant = to_flowersec(&pair.server);
    let server = tokio::spawn(async move {
        let options = EndpointOptions {
            transport_security_policy: TransportSecurityPolicy::allow_plaintext_for_loopback(),
            ..EndpointOptions::default()
        };
        let session = flowersec::endpoint::connect_tunnel(server_grant, options)
            .await
            .expect("server attach");
        drain_bench_stream(&session, bytes).await;
    });
    let client = flowersec::connect_tunnel(to_flowersec(&pair.client), connect_options())
        .await
        .expect("client attach");
    let stream = client.open_stream("bench").await.expect("open");
    let elapsed = push(stream, bytes).await;
    server.await.expect("server");
    elapsed
}

/// Rounds of the throughput comparison. The direct figure alone moves by
/// 15% between rounds on this machine, so ratios are taken within a round
/// (direct, hop and relay back to back) and the median round is reported.
const THROUGHPUT_ROUNDS: usize = 5;

async fn throughput(relay: &RelayProcess, mib: usize) {
    let bytes = mib * 1024 * 1024;
    let mut best = [Duration::MAX; 4];
    // Raw TCP through the hop, and plain WebSocket messages through the relay.
    let mut capacity_best = [Duration::MAX; 2];
    let (mut capacity_hop_cpu, mut capacity_relay_cpu) = (Duration::ZERO, Duration::ZERO);
    let mut relay_ratios = Vec::new();
    let mut hop_ratios = Vec::new();
    let mut relay_cpu = Duration::ZERO;
    let mut hop_cpu = Duration::ZERO;
    let (mut direct_idle, mut direct_total) = (0, 0);
    for round in 0..THROUGHPUT_ROUNDS {
        let (raw, _) = raw_tcp(bytes, false).await;
        let (raw_hop, cpu) = raw_tcp(bytes, true).await;
        capacity_hop_cpu += cpu;
        let cpu_before = relay.cpu_time();
        let plain_relayed = plain_ws_via_relay(relay, &format!("cap-{round}"), bytes).await;
        capacity_relay_cpu += relay.cpu_time() - cpu_before;
        for (best, this) in capacity_best.iter_mut().zip([raw_hop, plain_relayed]) {
            *best = (*best).min(this);
        }
        let (idle_before, total_before) = machine_ticks();
        let (direct, _) = flowersec_direct(bytes, false).await;
        let (idle_after, total_after) = machine_ticks();
        direct_idle += idle_after - idle_before;
        direct_total += total_after - total_before;
        let (hop, cpu) = flowersec_direct(bytes, true).await;
        hop_cpu += cpu;
        let cpu_before = relay.cpu_time();
        let relayed = flowersec_via_relay(relay, &format!("tp-{round}"), bytes).await;
        relay_cpu += relay.cpu_time() - cpu_before;
        relay_ratios.push(direct.as_secs_f64() / relayed.as_secs_f64());
        hop_ratios.push(direct.as_secs_f64() / hop.as_secs_f64());
        for (best, this) in best.iter_mut().zip([raw, direct, hop, relayed]) {
            *best = (*best).min(this);
        }
    }
    let median = |ratios: &mut Vec<f64>| {
        ratios.sort_by(f64::total_cmp);
        ratios[ratios.len() / 2]
    };
    let [raw, direct, hop, relayed] = best.map(|d| mib_per_s(bytes, d));
    println!("throughput ({mib} MiB one way, {THROUGHPUT_ROUNDS} rounds; best of each):");
    println!("  raw loopback TCP                  {raw:9.1} MiB/s");
    println!("  flowersec endpoints, direct       {direct:9.1} MiB/s");
    println!("  flowersec endpoints, TCP hop      {hop:9.1} MiB/s");
    println!("  flowersec endpoints, via relay    {relayed:9.1} MiB/s");
    println!("  ratio relay/raw TCP (best)        {:9.3}", relayed / raw);
    let spread = |ratios: &[f64]| format!("{:.3}..{:.3}", ratios[0], ratios[ratios.len() - 1]);
    let relay_median = median(&mut relay_ratios);
    let hop_median = median(&mut hop_ratios);
    println!(
        "  ratio relay/direct, median round  {relay_median:9.3}  (rounds {})",
        spread(&relay_ratios)
    );
    println!(
        "  ratio TCP hop/direct, median      {hop_median:9.3}  (rounds {})",
        spread(&hop_ratios)
    );
    let gib_moved = THROUGHPUT_ROUNDS as f64 * bytes as f64 / (1024.0 * 1024.0 * 1024.0);
    println!(
        "  relay CPU per GiB forwarded       {:9.3} s",
        relay_cpu.as_secs_f64() / gib_moved
    );
    println!(
        "  TCP hop CPU per GiB forwarded     {:9.3} s",
        hop_cpu.as_secs_f64() / gib_moved
    );
    // Idle time while the endpoints talk directly: a peer that leaves the
    // cores idle is bound by latency, not CPU, and any hop adds latency.
    println!(
        "  machine idle during direct        {:9.1} %",
        100.0 * direct_idle as f64 / direct_total.max(1) as f64
    );
    let [raw_hop, plain_relayed] = capacity_best.map(|d| mib_per_s(bytes, d));
    println!("capacity of one channel (endpoints without crypto; best of each):");
    println!(
        "  raw TCP through the blind hop     {raw_hop:9.1} MiB/s  ({:.3} of raw TCP)",
        raw_hop / raw
    );
    println!(
        "  WebSocket messages via relay      {plain_relayed:9.1} MiB/s  ({:.3} of raw TCP)",
        plain_relayed / raw
    );
    println!(
        "  CPU per GiB: blind hop / relay    {:9.3} s / {:.3} s",
        capacity_hop_cpu.as_secs_f64() / gib_moved,
        capacity_relay_cpu.as_secs_f64() / gib_moved
    );
}

/// A WebSocket to the relay whose close does not leave TIME_WAIT behind
/// (the load would otherwise run out of loopback ports).
async fn ws_connect(relay: &RelayProcess) -> tokio_tungstenite::WebSocketStream<TcpStream> {
    try_ws_connect(relay).await.expect("websocket")
}

/// [`ws_connect`], failing with a description rather than a panic.
async fn try_ws_connect(relay: &RelayProcess) -> Result<Ws, String> {
    let addr: std::net::SocketAddr = relay
        .ws_url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .parse()
        .expect("addr");
    let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    socket
        .set_zero_linger()
        .map_err(|e| format!("linger: {e}"))?;
    socket
        .set_nodelay(true)
        .map_err(|e| format!("nodelay: {e}"))?;
    let stream = socket
        .connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (ws, _) = tokio_tungstenite::client_async(relay.ws_url.as_str(), stream)
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    Ok(ws)
}

fn attach_text(channel: &str, role: Role, token: &str) -> Message {
    Message::text(
        serde_json::json!({"v":1,"channel_id":channel,"role":role.as_u8(),"token":token,
            "endpoint_instance_id":"AAAAAAAAAAAAAAAAAAAAAA"})
        .to_string(),
    )
}

fn fsec_like_record() -> Vec<u8> {
    let mut frame = b"FSEC\x01\x00".to_vec();
    frame.extend_from_slice(&0u64.to_be_bytes());
    frame.extend_from_slice(&4u32.to_be_bytes());
    frame.extend_from_slice(b"data");
    frame
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Attaches one pair and waits for the client's first frame at the server.
/// Returns the sockets and the time from the client's attach to that frame.
async fn attach_pair(
    relay: &RelayProcess,
    channel: String,
    tokens: [String; 2],
) -> (Ws, Ws, Duration) {
    let mut server = ws_connect(relay).await;
    server
        .send(attach_text(&channel, Role::Server, &tokens[0]))
        .await
        .expect("server attach");
    let mut client = ws_connect(relay).await;
    let started = Instant::now();
    client
        .send(attach_text(&channel, Role::Client, &tokens[1]))
        .await
        .expect("client attach");
    client
        .send(Message::binary(fsec_like_record()))
        .await
        .expect("client frame");
    next_binary(&mut server, &channel).await;
    (server, client, started.elapsed())
}

/// The next data message on `ws`, skipping pings and pongs.
async fn next_binary(ws: &mut Ws, what: &str) -> Vec<u8> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(bytes))) => return bytes.to_vec(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("{what}: {other:?}"),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Round trips of one small message: what a hop adds to each. Raw TCP
/// directly and through the blind hop, and plain WebSocket messages through
/// the relay (an echo at the server endpoint).
async fn round_trips(relay: &RelayProcess, count: usize) {
    async fn tcp_round_trips(count: usize, through_hop: bool) -> Vec<Duration> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (addr, _hop) = maybe_hop(listener.local_addr().expect("addr"), through_hop);
        let echo = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            let mut byte = [0u8; 1];
            while stream.read_exact(&mut byte).await.is_ok() {
                stream.write_all(&byte).await.expect("echo");
            }
        });
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut samples = Vec::with_capacity(count);
        let mut byte = [7u8; 1];
        for _ in 0..count {
            let started = Instant::now();
            stream.write_all(&byte).await.expect("write");
            stream.read_exact(&mut byte).await.expect("read");
            samples.push(started.elapsed());
        }
        drop(stream);
        echo.await.expect("echo");
        samples
    }
    let tokens = relay.token_pair("rtt", 60);
    let (mut server, mut client, _) = attach_pair(relay, "rtt".into(), tokens).await;
    let echo = tokio::spawn(async move {
        while let Some(Ok(message)) = server.next().await {
            if message.is_binary() && server.send(message).await.is_err() {
                return;
            }
        }
    });
    let mut relayed = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        client
            .send(Message::binary(b"ping".to_vec()))
            .await
            .expect("send");
        next_binary(&mut client, "echo").await;
        relayed.push(started.elapsed());
    }
    drop(client);
    echo.abort();
    let mut direct = tcp_round_trips(count, false).await;
    let mut hop = tcp_round_trips(count, true).await;
    println!("round trip of one small message ({count} each; p50 / p99):");
    for (name, samples) in [
        ("raw TCP", &mut direct),
        ("raw TCP through the blind hop", &mut hop),
        ("WebSocket messages via relay", &mut relayed),
    ] {
        samples.sort();
        println!(
            "  {name:32} {:7.1} / {:7.1} us",
            percentile(samples, 0.5).as_secs_f64() * 1e6,
            percentile(samples, 0.99).as_secs_f64() * 1e6
        );
    }
}

async fn pairing(relay: &Arc<RelayProcess>, pairs: usize, concurrency: usize) {
    let tokens: Vec<(String, [String; 2])> = (0..pairs)
        .map(|i| {
            let channel = format!("pair-{i}");
            let tokens = relay.token_pair(&channel, 60);
            (channel, tokens)
        })
        .collect();
    let work = Arc::new(std::sync::Mutex::new(tokens));
    let cpu_before = relay.cpu_time();
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let work = work.clone();
            let relay = relay.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let next = work.lock().expect("lock").pop();
                    let Some((channel, tokens)) = next else {
                        return latencies;
                    };
                    let (server, client, latency) = attach_pair(&relay, channel, tokens).await;
                    latencies.push(latency);
                    drop((server, client));
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    let relay_cpu = relay.cpu_time() - cpu_before;
    latencies.sort();
    println!("pairing ({pairs} pairs, {concurrency} at a time, load generator on the same cores):");
    println!(
        "  pairings per second               {:9.0}",
        pairs as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  relay CPU per pairing             {:9.1} us (two attaches)",
        relay_cpu.as_secs_f64() * 1e6 / pairs as f64
    );
    println!(
        "  attach to first frame p50         {:9.3} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3
    );
    println!(
        "  attach to first frame p99         {:9.3} ms",
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
}

/// Sends one `bytes`-long message from `from` and reads it at `to`.
async fn one_message(from: &mut Ws, to: &mut Ws, bytes: usize) {
    from.send(Message::binary(vec![0x42u8; bytes]))
        .await
        .expect("burst send");
    assert_eq!(next_binary(to, "burst").await.len(), bytes);
}

/// Pairs `channels` channels and holds them idle; with `burst_kib`, each first
/// carries one message of that size each way, as a channel that was busy.
async fn idle(relay: &Arc<RelayProcess>, channels: usize, burst_kib: usize) {
    let baseline = relay.rss_kib();
    let mut held = Vec::with_capacity(channels);
    let started = Instant::now();
    for i in 0..channels {
        let channel = format!("idle-{i}");
        let tokens = relay.token_pair(&channel, 600);
        let (mut server, mut client, _) = attach_pair(relay, channel, tokens).await;
        if burst_kib > 0 {
            one_message(&mut client, &mut server, burst_kib * 1024).await;
            one_message(&mut server, &mut client, burst_kib * 1024).await;
        }
        held.push((server, client));
    }
    let setup = started.elapsed();
    if burst_kib > 0 {
        // Past the relay's quiet time (--compact-after, 500 ms), when busy
        // channels give back their buffers. The relay's own counter says when.
        let deadline = Instant::now() + Duration::from_secs(60);
        while relay.metric("corridor_relay_compactions_total") < (2 * channels) as f64 {
            assert!(Instant::now() < deadline, "channels were not compacted");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let loaded = relay.rss_kib();
    let per_channel = (loaded.saturating_sub(baseline)) as f64 * 1024.0 / channels as f64;
    match burst_kib {
        0 => println!("idle channels ({channels} paired, one record exchanged each):"),
        kib => println!(
            "idle channels ({channels} paired, one {kib} KiB message each way, then idle):"
        ),
    }
    println!("  relay RSS before                  {:9} KiB", baseline);
    println!("  relay RSS with channels           {:9} KiB", loaded);
    println!(
        "  RSS per idle paired channel       {:9.0} bytes",
        per_channel
    );
    println!(
        "  projected RSS for 10,000          {:9.1} MiB",
        per_channel * 10_000.0 / (1024.0 * 1024.0)
    );
    println!(
        "  set-up time                       {:9.2} s",
        setup.as_secs_f64()
    );
    drop(held);
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let flag = |name: &str, default: usize| bench::flag(name, default as u64) as usize;
    let what = bench::mode(
        &["all", "throughput", "pairing", "idle", "churn", "slowloris"],
        "all",
    );
    let mib = flag("mib", 256);
    let channels = flag("channels", 8000);
    let pairs = flag("pairs", 5000);
    let concurrency = flag("concurrency", 32);
    let burst_kib = flag("burst-kib", 0);
    let runtime = bench::runtime();
    runtime.block_on(async {
        let relay = Arc::new(RelayProcess::start());
        if what == "all" || what == "throughput" {
            throughput(&relay, mib).await;
            round_trips(&relay, 20_000).await;
        }
        if what == "all" || what == "pairing" {
            pairing(&relay, pairs, concurrency).await;
        }
        if what == "all" || what == "idle" {
            // A fresh relay: memory from earlier phases is not the idle cost.
            let relay = Arc::new(RelayProcess::start());
            idle(&relay, channels, burst_kib).await;
        }
        if what == "churn" {
            // Minutes long: only on request. A fresh relay with default limits.
            let relay = Arc::new(RelayProcess::start());
            let plan = churn::Plan {
                rate: flag("rate", 5_000),
                seconds: flag("seconds", 200) as u64,
                warmup: flag("warmup", 95) as u64,
            };
            churn::run(relay, plan).await;
        }
        if what == "slowloris" {
            let relay = Arc::new(RelayProcess::start());
            slowloris::run(relay).await;
        }
    });
}
