//! Splicing two connections both ways until both directions end (a
//! half-close on one side is passed on to the other).

use tokio::io::{AsyncRead, AsyncWrite};

/// Bytes moved per read: large enough that one read takes a whole TLS
/// record or socket buffer (tokio's default of 8 KiB costs a third of the
/// bulk throughput here).
const SPLICE_BUFFER: usize = 64 * 1024;

/// Copies `a` to `b` and `b` to `a`; the byte counts of each direction.
pub(crate) async fn splice<A, B>(a: &mut A, b: &mut B) -> std::io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    tokio::io::copy_bidirectional_with_sizes(a, b, SPLICE_BUFFER, SPLICE_BUFFER).await
}
