//! Choosing a suite before the handshake.
//!
//! On a byte stream (TCP, a Unix socket) the client's first record is an
//! offer and the server's first record the answer:
//!
//! ```text
//! offer:  "CRDR" | version u8 (1) | count u8 (1..=8) | (len u8 | name)*
//! answer: "CRDR" | version u8 (1) | status u8 (0 chosen, 1 no common suite)
//!         | len u8 | name (chosen), or the server's names comma-separated (none)
//! ```
//!
//! On a direct WebSocket the same choice rides in `Sec-WebSocket-Protocol`
//! ([`parse_header`], [`header_value`]); no header means fsec1, so flowersec
//! peers are unaffected. On relay channels the grant names the suite.

use crate::codec::{Reader, Short};
use crate::suite::SuiteName;

/// The four bytes every preface starts with.
pub const MAGIC: [u8; 4] = *b"CRDR";
/// The preface version.
pub const VERSION: u8 = 1;
/// Most suites one offer may name.
pub const MAX_OFFERED: usize = 8;
/// Longest suite name.
pub const MAX_NAME_BYTES: usize = 32;
/// Largest preface record, offer or answer.
pub const MAX_PREFACE_BYTES: usize = 6 + MAX_OFFERED * (1 + MAX_NAME_BYTES);

/// Why a preface did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefaceError {
    /// Not a corridor preface (wrong magic): perhaps not a corridor peer.
    #[error("not a corridor preface")]
    NotAPreface,
    /// A preface version this side does not speak.
    #[error("preface version {0} is not supported")]
    Version(u8),
    /// Truncated, trailing bytes, or lengths out of bounds.
    #[error("malformed preface: {0}")]
    Malformed(&'static str),
}

impl PrefaceError {
    /// A stable snake_case name.
    pub const fn reason(&self) -> &'static str {
        match self {
            PrefaceError::NotAPreface => "not_a_preface",
            PrefaceError::Version(_) => "unsupported_preface_version",
            PrefaceError::Malformed(_) => "malformed_preface",
        }
    }
}

/// The server's answer to an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// This suite runs next.
    Chosen(String),
    /// None of the offered suites is accepted; the server's own names follow.
    NoCommonSuite(Vec<String>),
}

/// Encodes an offer of suite names, most preferred first.
///
/// ```
/// use corridor_core::negotiate::{self, Answer};
/// let offer = negotiate::encode_offer(&["corridor.noise", "corridor.fsec1"]);
/// let names = negotiate::decode_offer(&offer).unwrap();
/// let answer = negotiate::encode_answer(&negotiate::choose(&names, &["corridor.fsec1"]));
/// assert_eq!(negotiate::decode_answer(&answer).unwrap(), Answer::Chosen("corridor.fsec1".into()));
/// ```
pub fn encode_offer(names: &[&str]) -> Vec<u8> {
    let names: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| !name.is_empty() && name.len() <= MAX_NAME_BYTES)
        .take(MAX_OFFERED)
        .collect();
    let mut out = MAGIC.to_vec();
    out.push(VERSION);
    out.push(names.len() as u8);
    for name in names {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
    }
    out
}

/// Parses an offer: the names in the client's order of preference.
pub fn decode_offer(bytes: &[u8]) -> Result<Vec<String>, PrefaceError> {
    let mut reader = header(bytes)?;
    let count = usize::from(reader.u8()?);
    if count == 0 || count > MAX_OFFERED {
        return Err(PrefaceError::Malformed("suite count"));
    }
    let names = (0..count)
        .map(|_| name(&mut reader))
        .collect::<Result<Vec<_>, _>>()?;
    reader.end()?;
    Ok(names)
}

/// The first offered name the server accepts, or the server's names.
pub fn choose(offered: &[String], accepted: &[&str]) -> Answer {
    match offered
        .iter()
        .find(|name| accepted.contains(&name.as_str()))
    {
        Some(name) => Answer::Chosen(name.clone()),
        None => Answer::NoCommonSuite(accepted.iter().map(|name| name.to_string()).collect()),
    }
}

/// Encodes an answer.
pub fn encode_answer(answer: &Answer) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.push(VERSION);
    let text = match answer {
        Answer::Chosen(name) => {
            out.push(0);
            name.clone()
        }
        Answer::NoCommonSuite(names) => {
            out.push(1);
            names.join(",")
        }
    };
    let text = &text.as_bytes()[..text.len().min(usize::from(u8::MAX))];
    out.push(text.len() as u8);
    out.extend_from_slice(text);
    out
}

/// Parses an answer.
pub fn decode_answer(bytes: &[u8]) -> Result<Answer, PrefaceError> {
    let mut reader = header(bytes)?;
    let status = reader.u8()?;
    let len = usize::from(reader.u8()?);
    let text = text(&mut reader, len)?;
    reader.end()?;
    match status {
        0 if !text.is_empty() && text.len() <= MAX_NAME_BYTES => Ok(Answer::Chosen(text)),
        1 => Ok(Answer::NoCommonSuite(
            text.split(',')
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect(),
        )),
        _ => Err(PrefaceError::Malformed("answer status")),
    }
}

/// The wire names of `suites`, for messages and errors.
pub fn wire_names(suites: &[SuiteName]) -> Vec<String> {
    suites
        .iter()
        .map(|suite| suite.wire_name().to_owned())
        .collect()
}

/// The suites a `Sec-WebSocket-Protocol` header offers, in order; names that
/// are not corridor suites are skipped. No header offers fsec1 alone.
pub fn parse_header(value: Option<&str>) -> Vec<SuiteName> {
    match value {
        None => vec![SuiteName::Fsec1],
        Some(value) => value
            .split(',')
            .filter_map(|name| SuiteName::from_wire_name(name.trim()))
            .collect(),
    }
}

/// The `Sec-WebSocket-Protocol` value offering `suites`; `None` for fsec1
/// alone, so a flowersec endpoint sees the request it expects.
pub fn header_value(suites: &[SuiteName]) -> Option<String> {
    if suites == [SuiteName::Fsec1] {
        return None;
    }
    Some(
        suites
            .iter()
            .map(|suite| suite.wire_name())
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn header(bytes: &[u8]) -> Result<Reader<'_>, PrefaceError> {
    if bytes.len() > MAX_PREFACE_BYTES {
        return Err(PrefaceError::Malformed("preface too long"));
    }
    let mut reader = Reader::new(bytes);
    if reader.take(4).map_err(|_| PrefaceError::NotAPreface)? != MAGIC {
        return Err(PrefaceError::NotAPreface);
    }
    let version = reader.u8()?;
    if version != VERSION {
        return Err(PrefaceError::Version(version));
    }
    Ok(reader)
}

/// Names are printable ASCII.
fn text(reader: &mut Reader<'_>, len: usize) -> Result<String, PrefaceError> {
    let bytes = reader.take(len)?;
    if !bytes.iter().all(|b| b.is_ascii_graphic()) {
        return Err(PrefaceError::Malformed("name is not printable ASCII"));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

fn name(reader: &mut Reader<'_>) -> Result<String, PrefaceError> {
    let len = usize::from(reader.u8()?);
    if len == 0 || len > MAX_NAME_BYTES {
        return Err(PrefaceError::Malformed("name length"));
    }
    text(reader, len)
}

impl From<Short> for PrefaceError {
    fn from(short: Short) -> Self {
        match short {
            Short::Truncated => PrefaceError::Malformed("truncated"),
            Short::Trailing => PrefaceError::Malformed("trailing bytes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offer_with_nothing_in_common_names_the_server_suites() {
        let offer = decode_offer(&encode_offer(&["corridor.noise"])).expect("offer");
        let answer = choose(&offer, &["corridor.fsec1"]);
        assert_eq!(
            decode_answer(&encode_answer(&answer)),
            Ok(Answer::NoCommonSuite(vec!["corridor.fsec1".into()]))
        );
    }

    #[test]
    fn every_truncation_and_a_foreign_protocol_are_refused() {
        let offer = encode_offer(&["corridor.noise", "corridor.fsec1"]);
        for cut in 0..offer.len() {
            assert!(decode_offer(&offer[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(
            decode_offer(b"GET / HTTP/1.1\r\n"),
            Err(PrefaceError::NotAPreface)
        );
        let mut trailing = offer.clone();
        trailing.push(b'x');
        assert_eq!(
            decode_offer(&trailing),
            Err(PrefaceError::Malformed("trailing bytes"))
        );
    }

    #[test]
    fn the_websocket_header_defaults_to_fsec1() {
        assert_eq!(parse_header(None), vec![SuiteName::Fsec1]);
        assert_eq!(
            parse_header(Some("chat, corridor.noise,corridor.fsec1")),
            vec![SuiteName::Noise, SuiteName::Fsec1]
        );
        assert_eq!(header_value(&[SuiteName::Fsec1]), None);
        assert_eq!(
            header_value(&[SuiteName::Noise]).as_deref(),
            Some("corridor.noise")
        );
    }
}
