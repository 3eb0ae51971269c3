//! A man in the middle for WebSocket connections: forwards both directions and
//! tampers with one server-to-client binary message (flip a byte, drop it,
//! repeat it, or swap it with the next), as a hostile relay could.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What to do to the `nth` server-to-client binary message (0 is the handshake response).
#[derive(Clone, Copy, Debug)]
pub enum Tamper {
    /// XOR the low bit of byte `at` of the message (the record).
    Flip { nth: usize, at: usize },
    /// Never deliver it.
    Drop { nth: usize },
    /// Deliver it twice.
    Repeat { nth: usize },
    /// Deliver the next message first.
    Swap { nth: usize },
    /// Deliver nothing from the `nth` message on (the connection stays open).
    Silence { nth: usize },
    /// Deliver everything untouched.
    Nothing,
}

/// What the proxy saw in the server-to-client records' cleartext headers.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// Records with the rekey flag.
    pub rekeys: Arc<AtomicUsize>,
}

/// Listens on a fresh port and proxies each connection to `upstream`.
pub async fn start(upstream: SocketAddr, tamper: Tamper) -> SocketAddr {
    start_watching(upstream, tamper, Seen::default()).await
}

/// As [`start`], counting what passes in `seen`.
pub async fn start_watching(upstream: SocketAddr, tamper: Tamper, seen: Seen) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind mitm");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(upstream)
                .await
                .expect("mitm dials upstream");
            let (mut client_read, client_write) = client.into_split();
            let (server_read, mut server_write) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
            });
            tokio::spawn(server_to_client(
                server_read,
                client_write,
                tamper,
                seen.clone(),
            ));
        }
    });
    addr
}

async fn server_to_client(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    tamper: Tamper,
    seen: Seen,
) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    // The HTTP upgrade response passes untouched.
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            if to.write_all(&buf).await.is_err() {
                return;
            }
            buf = rest;
            break;
        }
        match from.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let mut binary_seen = 0usize;
    let mut held: Option<Vec<u8>> = None;
    loop {
        while let Some(len) = frame_len(&buf) {
            let mut frame: Vec<u8> = buf.drain(..len).collect();
            let binary = frame[0] & 0x0f == 2;
            let payload_at = frame.len() - payload_len(&frame);
            if binary
                && frame
                    .get(payload_at..payload_at + 6)
                    .is_some_and(|h| h.starts_with(b"FSEC") && h[5] == 2)
            {
                seen.rekeys.fetch_add(1, Ordering::Relaxed);
            }
            let index = binary_seen;
            if binary {
                binary_seen += 1;
            }
            let mut out = Vec::new();
            match tamper {
                Tamper::Flip { nth, at } if binary && index == nth => {
                    let payload_start = frame.len() - payload_len(&frame);
                    frame[payload_start + at] ^= 0x01;
                    out.push(frame);
                }
                Tamper::Drop { nth } if binary && index == nth => {}
                Tamper::Silence { nth } if index >= nth => {}
                Tamper::Repeat { nth } if binary && index == nth => {
                    out.push(frame.clone());
                    out.push(frame);
                }
                Tamper::Swap { nth } if binary && index == nth => held = Some(frame),
                Tamper::Swap { nth } if binary && index == nth + 1 => {
                    out.push(frame);
                    out.extend(held.take());
                }
                _ => out.push(frame),
            }
            for frame in out {
                if to.write_all(&frame).await.is_err() {
                    return;
                }
            }
        }
        match from.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The payload length of a complete, unmasked frame.
fn payload_len(frame: &[u8]) -> usize {
    match frame[1] & 0x7f {
        126 => u16::from_be_bytes([frame[2], frame[3]]) as usize,
        127 => u64::from_be_bytes(frame[2..10].try_into().expect("8 bytes")) as usize,
        short => short as usize,
    }
}

/// The length of the complete frame at the start of `buf`, if it is all there.
fn frame_len(buf: &[u8]) -> Option<usize> {
    let (&b1, _) = buf.get(1).zip(buf.first())?;
    let masked = b1 & 0x80 != 0;
    let (payload, header) = match b1 & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => {
            let bytes: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(bytes) as usize, 10)
        }
        short => (short as usize, 2),
    };
    let total = header + if masked { 4 } else { 0 } + payload;
    (buf.len() >= total).then_some(total)
}
