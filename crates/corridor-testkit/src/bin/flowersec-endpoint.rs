//! A flowersec 0.27.0 endpoint (the official crate, not corridor) listening
//! directly on loopback: the interop peer of the TypeScript client's tests.
//!
//! Prints `{"direct_info": ...}` once listening, then serves every
//! connection with the interop scenario (`corridor_testkit::flowersec_peer`):
//! RPC `7` answers `{"echo": payload}`; every RPC stream gets notification
//! `9` `{"hello":"client"}` first; a notification `11` from the client comes
//! back as notification `13` with the same payload; `echo` streams echo;
//! other kinds are reset. Each session also gets a `push` stream from the
//! endpoint carrying `hello from flowersec`. `p256` as the first argument picks that suite.
//! Tests only.

use corridor_core::b64;
use corridor_testkit::flowersec_peer::scenario_rpc;
use flowersec::e2ee::{Secret32, ServerHandshakeOptions, Suite};
use flowersec::endpoint::DirectAcceptOptions;
use flowersec::transport::TungsteniteTransport;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A client's `HELLO_SERVER` note comes back as this notification.
const NOTE_BACK: u32 = 13;
/// The stream the endpoint opens to every client, and what it carries.
const PUSH_STREAM: &str = "push";
const PUSH_BYTES: &[u8] = b"hello from flowersec";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let p256 = std::env::args().nth(1).as_deref() == Some("p256");
    let (suite, suite_number) = if p256 {
        (Suite::P256HkdfSha256Aes256Gcm, 2)
    } else {
        (Suite::X25519HkdfSha256Aes256Gcm, 1)
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mut psk = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut psk);
    let init_exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
        + 3600;
    let channel_id = "flowersec-direct";
    let info = json!({
        "ws_url": format!("ws://{}/", listener.local_addr()?),
        "channel_id": channel_id,
        "e2ee_psk_b64u": b64::encode(psk),
        "channel_init_expire_at_unix_s": init_exp,
        "default_suite": suite_number,
    });
    println!("{}", json!({ "direct_info": info }));
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let mut handshake = ServerHandshakeOptions::new(Secret32::new(psk), suite, init_exp);
        handshake.channel_id = Some(channel_id.to_owned());
        tokio::spawn(async move {
            let Ok(transport) = TungsteniteTransport::accept(tcp).await else {
                return;
            };
            let options = DirectAcceptOptions::new(handshake);
            if let Ok(session) =
                flowersec::endpoint::accept_direct(Arc::new(transport), options).await
            {
                // A stream of the endpoint's own, to the client.
                if let Ok(push) = session.open_stream(PUSH_STREAM).await {
                    let _ = push.write(PUSH_BYTES).await;
                    let _ = push.close().await;
                }
                corridor_testkit::flowersec_peer::serve(&session, serve_rpc).await;
            }
        });
    }
}

async fn serve_rpc(stream: flowersec::yamux::YamuxStream) {
    let (notes_tx, mut notes) = mpsc::channel::<Value>(64);
    let (rpc, serving) = scenario_rpc(stream, notes_tx).await;
    while let Some(note) = notes.recv().await {
        if rpc.notify_typed(NOTE_BACK, &note).await.is_err() {
            break;
        }
    }
    let _ = serving.await;
}
