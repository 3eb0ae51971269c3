//! The RPC envelope of flowersec v1: `{type_id, request_id, response_to,
//! payload, error{code,message}}`, one per u32-length-prefixed frame.
//!
//! A request has `request_id > 0` and `response_to == 0`; a response has
//! `response_to` set to the request's id; a notification has both zero.
//! Ids stay within JavaScript's safe integers so browser peers read them exactly.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// Largest frame accepted by default (flowersec's default).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1024 * 1024;
/// The largest id: 2^53 - 1.
pub const MAX_ID: u64 = (1 << 53) - 1;

/// Error code: no handler for the type_id.
pub const CODE_NOT_FOUND: u32 = 404;
/// Error code: the server is at its request limit.
pub const CODE_OVERLOADED: u32 = 429;
/// Error code: the handler failed or the request payload did not fit its type.
pub const CODE_INTERNAL: u32 = 500;
/// Error code: the request payload is not what the handler takes.
pub const CODE_BAD_REQUEST: u32 = 400;

/// The room an encoded frame starts with: a small call or answer fits.
const SMALL_FRAME_BYTES: usize = 256;

/// One RPC frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Routes the message to a handler.
    pub type_id: u32,
    /// The caller's id for a request; 0 otherwise.
    pub request_id: u64,
    /// The request this answers; 0 otherwise.
    pub response_to: u64,
    /// The message body.
    pub payload: Value,
    /// Set on failed responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WireError>,
}

/// The error of a failed response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    /// 404, 429, 500, or an application code.
    pub code: u32,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What an envelope is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A call expecting a response.
    Request,
    /// The answer to a call.
    Response,
    /// A one-way message.
    Notification,
}

/// Why a frame is not a valid envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The length prefix exceeds the limit.
    #[error("RPC frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// The frame is not an envelope.
    #[error("RPC frame is not a valid envelope: {0}")]
    InvalidJson(String),
    /// An id is beyond 2^53 - 1, or both ids are set.
    #[error("RPC envelope ids are invalid")]
    InvalidIds,
}

impl EnvelopeError {
    /// A stable snake_case name for logs and metrics.
    pub const fn reason(&self) -> &'static str {
        match self {
            EnvelopeError::TooLarge(_) => "rpc_frame_too_large",
            EnvelopeError::InvalidJson(_) => "rpc_invalid_json",
            EnvelopeError::InvalidIds => "rpc_invalid_ids",
        }
    }
}

impl Envelope {
    /// A request.
    pub fn request(type_id: u32, request_id: u64, payload: Value) -> Envelope {
        Envelope {
            type_id,
            request_id,
            response_to: 0,
            payload,
            error: None,
        }
    }

    /// A notification.
    pub fn notification(type_id: u32, payload: Value) -> Envelope {
        Envelope::request(type_id, 0, payload)
    }

    /// The successful response to `request`.
    pub fn response(type_id: u32, response_to: u64, payload: Value) -> Envelope {
        Envelope {
            type_id,
            request_id: 0,
            response_to,
            payload,
            error: None,
        }
    }

    /// A failed response.
    pub fn failure(
        type_id: u32,
        response_to: u64,
        code: u32,
        message: impl Into<String>,
    ) -> Envelope {
        Envelope {
            error: Some(WireError {
                code,
                message: Some(message.into()),
            }),
            ..Envelope::response(type_id, response_to, Value::Null)
        }
    }

    /// What this envelope is.
    pub fn kind(&self) -> Kind {
        kind_of(self.request_id, self.response_to)
    }

    /// Parses and checks one frame body.
    ///
    /// ```
    /// use corridor_core::rpc::{Envelope, Kind};
    /// let env = Envelope::decode(br#"{"type_id":7,"request_id":1,"response_to":0,"payload":{"n":1}}"#).unwrap();
    /// assert_eq!(env.kind(), Kind::Request);
    /// let frame = env.encode_frame();
    /// assert_eq!(Envelope::decode(&frame[4..]).unwrap(), env);
    /// ```
    pub fn decode(body: &[u8]) -> Result<Envelope, EnvelopeError> {
        let envelope: Envelope = serde_json::from_slice(body).map_err(invalid_json)?;
        check_ids(envelope.request_id, envelope.response_to)?;
        Ok(envelope)
    }

    /// The frame: u32 BE length, then the JSON body.
    pub fn encode_frame(&self) -> Vec<u8> {
        // Serialising a Value-bearing struct into a Vec cannot fail (a
        // Value's map keys are strings); were it to, the frame is empty.
        frame_of(self).unwrap_or_else(|_| 0u32.to_be_bytes().to_vec())
    }
}

/// The frame of a request of `type_id` carrying `payload`, encoded from the
/// caller's own type: the same JSON as [`Envelope::request`]'s frame,
/// without a `Value` built first.
///
/// ```
/// use corridor_core::rpc::{Envelope, encode_request_frame};
/// let frame = encode_request_frame(7, 1, &[1, 2]).unwrap();
/// let envelope = Envelope::decode(&frame[4..]).unwrap();
/// assert_eq!(envelope, Envelope::request(7, 1, serde_json::json!([1, 2])));
/// ```
pub fn encode_request_frame<T: Serialize + ?Sized>(
    type_id: u32,
    request_id: u64,
    payload: &T,
) -> Result<Vec<u8>, serde_json::Error> {
    // Envelope's fields, in its order; `error` is left out as it is when unset.
    #[derive(Serialize)]
    struct Request<'a, T: ?Sized> {
        type_id: u32,
        request_id: u64,
        response_to: u64,
        payload: &'a T,
    }
    frame_of(&Request {
        type_id,
        request_id,
        response_to: 0,
        payload,
    })
}

/// An envelope whose payload is left as JSON text borrowed from the frame:
/// a reader hands a response's payload to its caller unparsed, and the
/// caller parses it once, into its own type.
///
/// ```
/// use corridor_core::rpc::{Kind, RawEnvelope};
/// let body = br#"{"type_id":7,"request_id":0,"response_to":3,"payload":{"n":1}}"#;
/// let raw = RawEnvelope::decode(body).unwrap();
/// assert_eq!(raw.kind(), Kind::Response);
/// assert_eq!(raw.payload.get(), r#"{"n":1}"#);
/// ```
#[derive(Debug, Deserialize)]
pub struct RawEnvelope<'a> {
    /// Routes the message to a handler.
    pub type_id: u32,
    /// The caller's id for a request; 0 otherwise.
    pub request_id: u64,
    /// The request this answers; 0 otherwise.
    pub response_to: u64,
    /// The message body, as it came.
    #[serde(borrow)]
    pub payload: &'a RawValue,
    /// Set on failed responses.
    #[serde(default)]
    pub error: Option<WireError>,
}

impl<'a> RawEnvelope<'a> {
    /// Parses and checks one frame body, as [`Envelope::decode`] does.
    pub fn decode(body: &'a [u8]) -> Result<RawEnvelope<'a>, EnvelopeError> {
        let envelope: RawEnvelope = serde_json::from_slice(body).map_err(invalid_json)?;
        check_ids(envelope.request_id, envelope.response_to)?;
        Ok(envelope)
    }

    /// What this envelope is.
    pub fn kind(&self) -> Kind {
        kind_of(self.request_id, self.response_to)
    }

    /// The envelope with its payload parsed.
    pub fn into_envelope(self) -> Result<Envelope, EnvelopeError> {
        Ok(Envelope {
            type_id: self.type_id,
            request_id: self.request_id,
            response_to: self.response_to,
            payload: serde_json::from_str(self.payload.get()).map_err(invalid_json)?,
            error: self.error,
        })
    }
}

fn kind_of(request_id: u64, response_to: u64) -> Kind {
    match (request_id, response_to) {
        (0, 0) => Kind::Notification,
        (_, 0) => Kind::Request,
        _ => Kind::Response,
    }
}

fn check_ids(request_id: u64, response_to: u64) -> Result<(), EnvelopeError> {
    if request_id > MAX_ID || response_to > MAX_ID || (request_id != 0 && response_to != 0) {
        return Err(EnvelopeError::InvalidIds);
    }
    Ok(())
}

fn invalid_json(error: serde_json::Error) -> EnvelopeError {
    EnvelopeError::InvalidJson(error.to_string())
}

/// `body` behind its length as a u32 BE.
fn frame_of<T: Serialize + ?Sized>(body: &T) -> Result<Vec<u8>, serde_json::Error> {
    // Room for a small message at once: serde_json writes piece by piece,
    // and a Vec grown from 4 bytes reallocated five times.
    let mut frame = Vec::with_capacity(SMALL_FRAME_BYTES);
    frame.extend_from_slice(&[0; 4]);
    serde_json::to_writer(&mut frame, body)?;
    let length = (frame.len() - 4) as u32;
    frame[..4].copy_from_slice(&length.to_be_bytes());
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the rpc_frame fuzz target: without serde_json's
    /// `float_roundtrip`, a long number parsed to a float that printed and
    /// parsed again as a different float, so relaying a payload changed it.
    #[test]
    fn numbers_survive_a_relay_unchanged() {
        let body = br#"{"type_id":7,"request_id":1,"response_to":0,"payload":{"k":9999999911111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111119999999999999}}"#;
        let envelope = Envelope::decode(body).unwrap();
        let frame = envelope.encode_frame();
        assert_eq!(Envelope::decode(&frame[4..]).unwrap(), envelope);
        for text in [
            "0.1",
            "1e308",
            "5e-324",
            "2.2250738585072014e-308",
            "123456789012345678901234567890",
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            let again: Value = serde_json::from_str(&value.to_string()).unwrap();
            assert_eq!(value, again, "{text}");
        }
    }

    #[test]
    fn kinds_ids_and_bad_frames() {
        let ok = |text: &str| Envelope::decode(text.as_bytes());
        assert_eq!(
            ok(r#"{"type_id":1,"request_id":0,"response_to":0,"payload":null}"#)
                .unwrap()
                .kind(),
            Kind::Notification
        );
        assert_eq!(ok(r#"{"type_id":1,"request_id":0,"response_to":5,"payload":null,"error":{"code":404}}"#).unwrap().kind(), Kind::Response);
        assert_eq!(
            ok(r#"{"type_id":1,"request_id":9007199254740992,"response_to":0,"payload":null}"#),
            Err(EnvelopeError::InvalidIds)
        );
        assert_eq!(
            ok(r#"{"type_id":1,"request_id":1,"response_to":1,"payload":null}"#),
            Err(EnvelopeError::InvalidIds)
        );
        assert!(matches!(ok("not json"), Err(EnvelopeError::InvalidJson(_))));
        assert!(matches!(
            ok(r#"{"type_id":-1,"request_id":1,"response_to":0,"payload":null}"#),
            Err(EnvelopeError::InvalidJson(_))
        ));
    }
}
