//! Choosing the suite on a byte-stream carrier: the client's first record
//! offers suites, the server's first record answers with one, or with the
//! names it accepts before it closes. Both within a deadline. (Direct
//! WebSockets negotiate in `Sec-WebSocket-Protocol` instead; relay channels
//! take the grant's suite.)

use crate::carrier::Records;
use crate::error::{Error, from_io};
use bytes::Bytes;
use corridor_core::negotiate::{self, Answer, PrefaceError};
use corridor_core::suite::SuiteName;
use futures_util::{SinkExt as _, StreamExt as _};
use std::time::Duration;

/// `exchange`, or `Error::Timeout("preface")` after `timeout`.
async fn within<T>(
    timeout: Duration,
    exchange: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| Error::Timeout("preface"))?
}

async fn next_record(records: &mut Records) -> Result<Bytes, Error> {
    match records.next().await {
        Some(Ok(record)) => Ok(record),
        Some(Err(error)) => Err(from_io(error, "preface")),
        None => Err(Error::Closed("preface")),
    }
}

/// The client side: offers `suites` (most preferred first), returns the
/// server's choice.
///
/// `behind` goes out right after the offer, before the answer is read:
/// with one suite offered the answer can only take it or refuse, so that
/// suite's opening handshake messages need not wait a round trip for it.
pub(crate) async fn offer(
    records: &mut Records,
    suites: &[SuiteName],
    behind: Vec<Vec<u8>>,
    timeout: Duration,
) -> Result<SuiteName, Error> {
    let exchange = async {
        let wire: Vec<&str> = suites.iter().map(|suite| suite.wire_name()).collect();
        let offer = std::iter::once(negotiate::encode_offer(&wire)).chain(behind);
        let mut sent = futures_util::stream::iter(offer.map(|record| Ok(Bytes::from(record))));
        records
            .send_all(&mut sent)
            .await
            .map_err(|error| from_io(error, "preface"))?;
        let answer = next_record(records).await?;
        match negotiate::decode_answer(&answer)? {
            Answer::Chosen(name) => SuiteName::from_wire_name(&name)
                .filter(|suite| suites.contains(suite))
                .ok_or(Error::Preface(PrefaceError::Malformed(
                    "the answer names a suite not offered",
                ))),
            Answer::NoCommonSuite(accepted) => Err(Error::NoCommonSuite {
                offered: corridor_core::negotiate::wire_names(suites),
                accepted,
            }),
        }
    };
    within(timeout, exchange).await
}

/// The server side: reads the offer, answers with the first offered suite
/// among `accepted`, or refuses naming them.
pub(crate) async fn answer(
    records: &mut Records,
    accepted: &[SuiteName],
    timeout: Duration,
) -> Result<SuiteName, Error> {
    let exchange = async {
        let offer = next_record(records).await?;
        let offered = negotiate::decode_offer(&offer)?;
        let wire: Vec<&str> = accepted.iter().map(|suite| suite.wire_name()).collect();
        let answer = negotiate::choose(&offered, &wire);
        records
            .send(Bytes::from(negotiate::encode_answer(&answer)))
            .await
            .map_err(|error| from_io(error, "preface"))?;
        match answer {
            Answer::Chosen(name) => SuiteName::from_wire_name(&name).ok_or(Error::Preface(
                PrefaceError::Malformed("chose an unknown suite"),
            )),
            Answer::NoCommonSuite(accepted) => Err(Error::NoCommonSuite { offered, accepted }),
        }
    };
    within(timeout, exchange).await
}
