//! `corridor demo`: a relay, a control plane, an endpoint and two clients in
//! one process, each step printed, for a newcomer's first minute.

use anyhow::Context as _;
use clap::Args;
use corridor::builtin::{self, Info};
use corridor::{Client, SessionOptions};
use corridor_controlplane::agent::{self, AgentConfig};
use corridor_controlplane::{ControlPlane, ControlPlaneConfig, client};
use corridor_core::grant::GrantParams;
use corridor_core::keys::IssuerKey;
use corridor_relay::{Relay, RelayConfig};
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Start a relay, a control plane, an endpoint and two clients in this process and show what happens.
///
/// Nothing is left behind: the issuer key lives in a temporary directory and
/// everything listens on an ephemeral loopback port.
#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Bytes to push through the echo stream.
    #[arg(long, default_value_t = 1 << 20)]
    bytes: usize,
}

fn step(who: &str, what: impl std::fmt::Display) {
    println!("  {who:<9} {what}");
}

pub(crate) fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(demo(args))
}

async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    println!(
        "corridor demo: a relay, a control plane, an endpoint and two clients, in one process\n"
    );
    let dir = std::env::temp_dir().join(format!("corridor-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("creating a temporary directory")?;
    let outcome = run_steps(&dir, args.bytes).await;
    let _ = std::fs::remove_dir_all(&dir);
    outcome?;
    println!(
        "\nNext: `corridor relay` and `corridor controlplane` run the two services;\n\
         `corridor serve --controlplane http://127.0.0.1:8090 --endpoint-id demo` is the endpoint and\n\
         `corridor call --controlplane http://127.0.0.1:8090 --endpoint-id demo ping` a client."
    );
    Ok(ExitCode::SUCCESS)
}

async fn run_steps(dir: &std::path::Path, bytes: usize) -> anyhow::Result<()> {
    let key = IssuerKey::generate("demo", &mut rand_core::OsRng).context("generating a key")?;
    let keys_file = dir.join("issuer_keys.json");
    std::fs::write(&keys_file, key.to_public_json()).context("writing the public key")?;
    let mut config = RelayConfig::new(&keys_file, "corridor-demo", "corridor-demo");
    // Native clients send no Origin header; browsers would.
    config.origins.allow_no_origin = true;
    let relay = Relay::bind(config).await.context("starting the relay")?;
    let relay_handle = relay.handle();
    let ws_url = relay.ws_url();
    tokio::spawn(relay.run());
    step(
        "relay",
        format!("listening on {ws_url}; it checks tokens and forwards, never decrypts"),
    );

    let mut config = ControlPlaneConfig::new(key, relay_params(ws_url));
    config.listen = "127.0.0.1:0".parse().context("loopback address")?;
    let mut psk = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut psk);
    config.control_psk = Some(psk.into());
    let control_plane = ControlPlane::bind(config)
        .await
        .context("starting the control plane")?;
    let url = control_plane.url();
    let control_handle = control_plane.handle();
    tokio::spawn(control_plane.run());
    step(
        "control",
        format!("control plane at {url}; it mints a fresh channel for every client"),
    );

    let router = builtin::register(
        corridor::rpc::Router::new(),
        Info {
            name: "corridor demo endpoint".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            streams: vec![builtin::ECHO_STREAM.into()],
        },
    );
    let options = SessionOptions::default().with_router(router);
    let link = agent::spawn(
        AgentConfig::new(&url, "demo", psk),
        Arc::new(move |grant| {
            let options = options.clone();
            tokio::spawn(async move {
                if let Ok(session) = agent::attach(&grant, &options).await {
                    builtin::serve_streams(&session, Arc::default()).await;
                }
            });
            Ok(())
        }),
    )?;
    link.session()
        .await
        .context("the endpoint's control session")?;
    step(
        "endpoint",
        "registered as \"demo\" over an encrypted control session, waiting for clients",
    );

    let started = Instant::now();
    let grant = client::request_grant(&url, "demo", None, Duration::from_secs(10)).await?;
    step(
        "client 1",
        format!(
            "asked for \"demo\": got channel {} (the endpoint was sent its half first)",
            grant.channel_id
        ),
    );
    let session = Client::connect_tunnel(&grant, &SessionOptions::default()).await?;
    step(
        "client 1",
        format!(
            "attached; E2EE handshake (X25519, AES-256-GCM) through the relay, {:.1} ms from asking",
            started.elapsed().as_secs_f64() * 1e3
        ),
    );

    for (method, payload) in [
        ("ping", Value::Null),
        ("echo", json!({"hello": "corridor"})),
        ("info", Value::Null),
    ] {
        let type_id = builtin::type_id(method).unwrap_or_default();
        let started = Instant::now();
        let answer: Value = session.rpc().call(type_id, &payload).await?;
        step(
            "rpc",
            format!(
                "{method} -> {answer} in {} µs",
                started.elapsed().as_micros()
            ),
        );
    }

    let started = Instant::now();
    let stream = session.open_stream(builtin::ECHO_STREAM).await?;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let sent: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
    let upload = {
        let sent = sent.clone();
        tokio::spawn(async move {
            writer.write_all(&sent).await?;
            writer.flush().await?;
            Ok::<_, std::io::Error>(writer)
        })
    };
    let mut back = vec![0u8; bytes];
    reader.read_exact(&mut back).await?;
    let mut writer = upload.await.context("upload task")??;
    writer.shutdown().await?;
    anyhow::ensure!(back == sent, "the echo differs from what was sent");
    step(
        "stream",
        format!(
            "echo: {} KiB sent and back byte-exact in {:.1} ms",
            bytes / 1024,
            started.elapsed().as_secs_f64() * 1e3
        ),
    );

    session.close().await;

    let started = Instant::now();
    let grant = client::request_grant(&url, "demo", None, Duration::from_secs(10)).await?;
    let second = Client::connect_tunnel(&grant, &SessionOptions::default()).await?;
    let answer: Value = second.rpc().call(builtin::PING, &Value::Null).await?;
    step(
        "client 2",
        format!(
            "a fresh channel {}: ping -> {answer}, {:.1} ms from asking",
            grant.channel_id,
            started.elapsed().as_secs_f64() * 1e3
        ),
    );
    second.close().await;
    link.stop();
    let forwarded: f64 = relay_handle
        .metrics()
        .encode()
        .lines()
        .filter(|line| line.starts_with("corridor_relay_forwarded_bytes_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    step(
        "relay",
        format!("forwarded {forwarded} bytes of sealed records; it held no key to read them"),
    );
    control_handle.shutdown();
    relay_handle.shutdown();
    Ok(())
}

fn relay_params(tunnel_url: String) -> GrantParams {
    GrantParams {
        tunnel_url,
        audience: "corridor-demo".into(),
        issuer: "corridor-demo".into(),
        ..GrantParams::default()
    }
}
