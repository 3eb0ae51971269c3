//! Writing and reading the StreamHello that opens every stream.

use crate::error::Error;
use corridor_core::hello;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Writes the hello naming `kind` and flushes it.
pub async fn write(stream: &mut (impl AsyncWrite + Unpin), kind: &str) -> Result<(), Error> {
    let frame = hello::encode(kind)?;
    stream.write_all(&frame).await?;
    stream.flush().await?;
    Ok(())
}

/// Reads a hello of at most `max_bytes` and returns its kind.
pub async fn read(
    stream: &mut (impl AsyncRead + Unpin),
    max_bytes: usize,
) -> Result<String, Error> {
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).await?;
    let length = hello::check_length(&prefix, max_bytes)?;
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await?;
    Ok(hello::decode_body(&body)?)
}
