//! The suites side by side, in one run: server handshake CPU of Noise XX
//! beside fsec1 (sans-io, one core), full connects per second including the
//! WebSocket accept, and one-stream throughput of `noise` with AES-GCM and
//! ChaChaPoly beside `fsec1` and raw loopback TCP (rounds interleaved, the
//! median kept, so a slow moment of the machine hits every suite alike).

use crate::{
    CHUNK, corridor_throughput, direct_info, mib_per_s, raw_tcp, serve_corridor, session_options,
};
use corridor::credential::{AcceptAll, EndpointCredential, NoiseCredential};
use corridor::{Client, Session, SessionOptions};
use corridor_core::fsec1::server::HandshakeCache;
use corridor_core::identity::StaticSecret;
use corridor_core::noise::{
    Cipher, InitiatorConfig, NoiseInitiator, NoiseResponder, Pattern, Protocol, ResponderConfig,
};
use corridor_core::suite::{Context, Handshake, Step, Verdict};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const ROUNDS: usize = 3;

/// Server time of one handshake per suite, both sides in this thread, only
/// the server's calls timed.
pub(crate) fn handshake_cpu() {
    const N: usize = 2000;
    let cache = Arc::new(HandshakeCache::default());
    let fsec1 = per_handshake(N, || crate::fsec1_server_time(&cache));
    let server_key = StaticSecret::generate(&mut rand_core::OsRng);
    let client_key = StaticSecret::generate(&mut rand_core::OsRng);
    let noise = |pattern: Pattern| {
        per_handshake(N, || {
            let protocol = Protocol {
                pattern,
                cipher: Cipher::AesGcm,
                psk: false,
            };
            let mut config = InitiatorConfig::new(protocol, client_key.clone(), "bench");
            config.remote = Some(server_key.public_key());
            let mut client = NoiseInitiator::start(config).expect("start");
            let mut server = NoiseResponder::new(ResponderConfig::new(server_key.clone()));
            noise_server_time(&mut client, &mut server)
        })
    };
    let xx = noise(Pattern::XX);
    let ik = noise(Pattern::IK);
    println!("\nserver handshake CPU, sans-io, one core ({N} each)");
    for (name, time) in [
        ("fsec1 (X25519)", fsec1),
        ("noise XX", xx),
        ("noise IK", ik),
    ] {
        println!(
            "  {name:16} {:7.1} us   {:7.0} handshakes/s per core",
            time * 1e6,
            1.0 / time
        );
    }
}

/// The mean of `one()`'s reported durations over `n` runs, in seconds.
fn per_handshake(n: usize, mut one: impl FnMut() -> Duration) -> f64 {
    let total: Duration = (0..n).map(|_| one()).sum();
    total.as_secs_f64() / n as f64
}

/// Runs a Noise handshake to its end, timing only the responder's calls.
fn noise_server_time(client: &mut NoiseInitiator, server: &mut NoiseResponder) -> Duration {
    let mut rng = rand_core::OsRng;
    let mut cx = Context {
        now_unix_s: 0,
        now: Instant::now(),
        rng: &mut rng,
    };
    let mut server_time = Duration::ZERO;
    let mut to_server = Vec::new();
    let mut to_client = Vec::new();
    loop {
        let mut client_done = false;
        loop {
            match client.step().expect("client") {
                Step::Send(message) => to_server.push(message),
                Step::Decide(_) => client.decide(Verdict::accept()).expect("decide"),
                Step::Receive => break,
                Step::Done => {
                    client_done = true;
                    break;
                }
            }
        }
        if client_done {
            return server_time;
        }
        let started = Instant::now();
        for mut message in to_server.drain(..) {
            server.on_message(&mut message, &mut cx).expect("server");
        }
        loop {
            match server.step().expect("server") {
                Step::Send(message) => to_client.push(message),
                Step::Decide(_) => server.decide(Verdict::accept()).expect("decide"),
                Step::Receive | Step::Done => break,
            }
        }
        server_time += started.elapsed();
        for mut message in to_client.drain(..) {
            client.on_message(&mut message, &mut cx).expect("client");
        }
    }
}

/// ring's ChaCha20-Poly1305 seal of 64 KiB records on one core, for one second.
fn chacha_seal_rate() -> f64 {
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[7u8; 32]).expect("key"));
    let mut buf = vec![0u8; CHUNK];
    let started = Instant::now();
    let (mut sealed, mut counter) = (0usize, 0u64);
    while started.elapsed() < Duration::from_secs(1) {
        counter += 1;
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&counter.to_le_bytes());
        let tag = key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
            .expect("seal");
        let _ = std::hint::black_box(tag);
        sealed += CHUNK;
    }
    mib_per_s(sealed, started.elapsed())
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Connects per second: `clients` tasks connecting and closing in a loop for
/// three seconds, both ends in this process.
async fn connects_per_second<F, Fut>(clients: usize, connect: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Session> + Send,
{
    let connect = Arc::new(connect);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let connect = connect.clone();
            tokio::spawn(async move {
                let mut done = 0usize;
                while started.elapsed() < Duration::from_secs(3) {
                    let session = connect().await;
                    session.close().await;
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut done = 0;
    for task in tasks {
        done += task.await.expect("connects");
    }
    done as f64 / started.elapsed().as_secs_f64()
}

pub(crate) async fn run(mib: usize) {
    let bytes = mib * 1024 * 1024;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (info, fsec1) = direct_info(addr);
    let server_key = StaticSecret::generate(&mut rand_core::OsRng);
    let mut credential = EndpointCredential::noise(
        ResponderConfig::new(server_key.clone()),
        Arc::new(AcceptAll),
    );
    credential.fsec1 = Some(fsec1);
    serve_corridor(listener, credential);
    let url = format!("ws://{addr}/");
    let noise = |pattern: Pattern, cipher: Cipher| {
        let mut noise = NoiseCredential::ik(
            StaticSecret::generate(&mut rand_core::OsRng),
            server_key.public_key(),
            "bench",
        );
        noise.pattern = pattern;
        noise.cipher = cipher;
        noise
    };

    // Full connects, sequential and 16 at a time.
    let options = Arc::new(SessionOptions::default());
    let mut connects = Vec::new();
    for clients in [1, 16] {
        let (fsec1_info, fsec1_options) = (info.clone(), options.clone());
        let fsec1 = connects_per_second(clients, move || {
            let (info, options) = (fsec1_info.clone(), fsec1_options.clone());
            async move {
                Client::connect_direct(&info, &options)
                    .await
                    .expect("fsec1")
            }
        })
        .await;
        let (url, options, xx) = (
            url.clone(),
            options.clone(),
            noise(Pattern::XX, Cipher::AesGcm),
        );
        let noise_xx = connects_per_second(clients, move || {
            let (url, options, xx) = (url.clone(), options.clone(), xx.clone());
            async move {
                Client::connect_ws(&url, &xx, &options)
                    .await
                    .expect("noise")
            }
        })
        .await;
        connects.push((clients, fsec1, noise_xx));
    }

    // One stream, rounds interleaved.
    let tcp = raw_tcp(bytes).await;
    let aes = tokio::task::spawn_blocking(crate::aes_seal_rate)
        .await
        .expect("aes");
    let chacha = tokio::task::spawn_blocking(chacha_seal_rate)
        .await
        .expect("chacha");
    let options = session_options();
    let sessions = [
        Arc::new(
            Client::connect_direct(&info, &options)
                .await
                .expect("fsec1"),
        ),
        Arc::new(
            Client::connect_ws(&url, &noise(Pattern::IK, Cipher::AesGcm), &options)
                .await
                .expect("noise aes"),
        ),
        Arc::new(
            Client::connect_ws(&url, &noise(Pattern::IK, Cipher::ChaChaPoly), &options)
                .await
                .expect("noise chacha"),
        ),
    ];
    let mut samples = [Vec::new(), Vec::new(), Vec::new()];
    for session in &sessions {
        corridor_throughput(session, 16 << 20, 1).await;
    }
    for _ in 0..ROUNDS {
        for (session, samples) in sessions.iter().zip(samples.iter_mut()) {
            samples.push(corridor_throughput(session, bytes, 1).await);
        }
    }
    let [fsec1, noise_aes, noise_chacha] = samples.map(median);

    println!(
        "\nsuites ({mib} MiB per round, {ROUNDS} rounds interleaved, median; direct loopback WebSocket)"
    );
    println!("  raw loopback TCP                  {tcp:>8.1} MiB/s   (transport limit)");
    println!("  ring AES-256-GCM seal, 1 core     {aes:>8.1} MiB/s");
    println!("  ring ChaCha20-Poly1305, 1 core    {chacha:>8.1} MiB/s");
    println!(
        "  fsec1, 1 stream                   {fsec1:>8.1} MiB/s   {:.2} of raw TCP",
        fsec1 / tcp
    );
    println!(
        "  noise AES-GCM, 1 stream           {noise_aes:>8.1} MiB/s   {:.2} of fsec1 (target at least 0.9)",
        noise_aes / fsec1
    );
    println!(
        "  noise ChaChaPoly, 1 stream        {noise_chacha:>8.1} MiB/s   {:.2} of fsec1",
        noise_chacha / fsec1
    );
    println!(
        "  full connects per second (WebSocket accept + handshake + session; both ends on these 2 cores)"
    );
    for (clients, fsec1, xx) in connects {
        println!(
            "    {clients:2} at a time: fsec1 {fsec1:6.0}/s, noise XX {xx:6.0}/s ({:.2} of fsec1)",
            xx / fsec1
        );
    }
}
