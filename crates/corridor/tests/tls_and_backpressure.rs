//! wss:// through a TLS relay with rustls on both ends, and backpressure: a
//! stream whose reader never reads stalls its writer after one window while
//! the rest of the session carries on; a session whose peer stopped reading
//! still closes, at its close timeout.

mod support;

use corridor::{Client, Endpoint, SessionOptions};
use corridor_core::fsec1::Suite;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::*;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_run_over_wss_through_a_tls_relay() {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("cert");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).expect("write key");
    let relay = TestRelay::start_with(|config| {
        config.tls = Some(corridor_relay::TlsFiles {
            cert: cert_file.clone(),
            key: key_file.clone(),
        });
    })
    .await;
    assert!(relay.ws_url.starts_with("wss://"));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");
    let tls = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let pair = relay.grants("over-tls", Suite::X25519HkdfSha256Aes256Gcm);
    let (mut options, _) = endpoint_options();
    options.ws.tls = Some(tls.clone());
    let server_grant = pair.server.clone();
    let endpoint = tokio::spawn(async move {
        let session = Endpoint::connect_tunnel(&server_grant, &options)
            .await
            .expect("endpoint over wss");
        serve_corridor_endpoint(&session, false).await;
    });
    let mut client_options = SessionOptions::default();
    client_options.ws.tls = Some(tls);
    let session = Client::connect_tunnel(&pair.client, &client_options)
        .await
        .expect("client over wss");
    let reply: Value = session
        .rpc()
        .call(ECHO_RPC, &json!("tls"))
        .await
        .expect("call over wss");
    assert_eq!(reply, json!({"echo": "tls"}));
    small_echo(&session, b"encrypted twice").await;
    session.close().await;
    join(endpoint).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_never_reads_stalls_only_its_own_stream() {
    let (options, _) = endpoint_options();
    let (_, info, _) = direct_endpoint(
        options,
        Suite::X25519HkdfSha256Aes256Gcm,
        |session| async move {
            // Hold the stream and never read it.
            let _stuck = session.accept_stream().await.expect("stream");
            session.closed().await;
        },
    )
    .await;
    let session = Arc::new(
        Client::connect_direct(&info, &SessionOptions::default())
            .await
            .expect("handshake"),
    );
    let accepted = Arc::new(AtomicUsize::new(0));
    let mut writer = {
        let (session, accepted) = (session.clone(), accepted.clone());
        tokio::spawn(async move {
            let mut stream = session.open_stream("sink").await.expect("open");
            let block = vec![7u8; 16 * 1024];
            for _ in 0..4096 {
                stream.write_all(&block).await.expect("write");
                accepted.fetch_add(block.len(), Ordering::SeqCst);
            }
        })
    };
    // 64 MiB cannot go anywhere: the writer must stall, not fail or buffer it.
    let stalled = tokio::time::timeout(Duration::from_secs(2), &mut writer).await;
    assert!(
        stalled.is_err(),
        "the writer finished 64 MiB into a reader that never reads"
    );
    // The stream's window (256 KiB, its hello included) is all a writer can
    // hand over before the reader makes room: it used it, and no more.
    let taken = accepted.load(Ordering::SeqCst);
    assert!(
        (128 * 1024..=256 * 1024).contains(&taken),
        "{taken} bytes were taken in; one 256 KiB window is the bound"
    );
    // Other streams and RPC are not held up.
    let reply: Value = session
        .rpc()
        .call(ECHO_RPC, &json!("beside"))
        .await
        .expect("call");
    assert_eq!(reply, json!({"echo": "beside"}));
    writer.abort();
}

/// Joins `a` and `b` through a task that copies both ways until `freeze`
/// fires; then it stops reading `a` (the connection stays open), as a peer
/// that stopped reading would.
fn freezable_pipe(
    a: tokio::net::UnixStream,
    b: tokio::net::UnixStream,
    freeze: Arc<tokio::sync::Notify>,
) {
    let (mut a_read, mut a_write) = a.into_split();
    let (mut b_read, mut b_write) = b.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut b_read, &mut a_write).await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = tokio::select! {
                _ = freeze.notified() => break,
                n = tokio::io::AsyncReadExt::read(&mut a_read, &mut buf) => n,
            };
            match n {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if b_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
        // Frozen: hold both halves open and read nothing more.
        std::future::pending::<()>().await;
        drop((a_read, b_write));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_session_whose_peer_stopped_reading_ends_at_the_close_timeout() {
    let (client_io, pipe_a) = tokio::net::UnixStream::pair().expect("pair");
    let (pipe_b, endpoint_io) = tokio::net::UnixStream::pair().expect("pair");
    let freeze = Arc::new(tokio::sync::Notify::new());
    freezable_pipe(pipe_a, pipe_b, freeze.clone());
    let credential = corridor::DirectCredential {
        psk: [9u8; 32].into(),
        suite: Suite::X25519HkdfSha256Aes256Gcm,
        channel_id: Some("frozen".into()),
        init_exp_unix_s: now() + 120,
    };
    let served = credential.clone();
    let _endpoint = tokio::spawn(async move {
        let (options, _) = endpoint_options();
        let session = Endpoint::accept_framed(endpoint_io, &served, &options)
            .await
            .expect("endpoint handshake");
        session.closed().await;
    });
    let mut options = SessionOptions::default();
    options.mux.close_timeout = Duration::from_millis(300);
    let session = Arc::new(
        Client::connect_framed(client_io, &credential, &options)
            .await
            .expect("client handshake"),
    );
    freeze.notify_one();
    // 16 streams x one 256 KiB window is far more than the socket buffers
    // take: the carrier fills and stays full.
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let session = session.clone();
        writers.spawn(async move {
            let mut stream = session.open_stream("sink").await?;
            stream.write_all(&vec![1u8; 256 * 1024]).await?;
            stream.flush().await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        });
    }
    let all_written = tokio::time::timeout(Duration::from_secs(2), async {
        while writers.join_next().await.is_some() {}
    })
    .await;
    assert!(all_written.is_err(), "4 MiB went into a frozen pipe");

    let started = tokio::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(10), session.close())
        .await
        .expect("close returns although the peer reads nothing");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(session.end_reason(), Some("close_timeout"));
}
