//! JSON-RPC 2.0 framing for corridor's public control APIs (the ingress
//! proxy's, a mesh node's admin API): requests, batches, notifications and
//! the standard error codes, over any text transport.
//!
//! Written here rather than taken from jsonrpsee: the APIs need plain
//! server-initiated notifications (`proxy.connect`) on the connection a
//! client subscribed on, and a per-connection context (admin or not, the
//! agent's subscriptions); jsonrpsee brings its own WebSocket server and
//! subscription format for that. The format itself is a page of serde.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;

/// Invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// Not a request object.
pub const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Parameters of the wrong shape.
pub const INVALID_PARAMS: i64 = -32602;
/// A server fault.
pub const INTERNAL_ERROR: i64 = -32603;

/// A request's most calls in one batch.
pub const MAX_BATCH: usize = 100;

/// An error object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} ({code})")]
pub struct RpcError {
    /// The code: the standard ones above, or the application's.
    pub code: i64,
    /// A short description.
    pub message: String,
    /// More detail, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Invalid parameters, saying why.
    pub fn invalid_params(why: impl std::fmt::Display) -> RpcError {
        RpcError::new(INVALID_PARAMS, format!("invalid params: {why}"))
    }
}

/// A call or notification as received.
#[derive(Debug, Deserialize)]
struct Incoming {
    jsonrpc: Option<String>,
    method: Option<Value>,
    #[serde(default)]
    params: Option<Value>,
    /// Absent for a notification; `null`, a number or a string otherwise.
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
}

/// Keeps `"id": null` apart from no id (a notification).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A response object.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Response {
    /// Always "2.0".
    pub jsonrpc: String,
    /// The answer, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
    /// The request's id.
    pub id: Value,
}

impl Response {
    fn new(id: Value, outcome: Result<Value, RpcError>) -> Response {
        let (result, error) = match outcome {
            Ok(result) => (Some(result), None),
            Err(error) => (None, Some(error)),
        };
        Response {
            jsonrpc: "2.0".into(),
            result,
            error,
            id,
        }
    }
}

/// A request to send (`id: None` makes it a notification).
pub fn request(method: &str, params: Value, id: Option<u64>) -> String {
    let mut object = serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params});
    if let Some(id) = id {
        object["id"] = id.into();
    }
    object.to_string()
}

/// Answers one text message: a call, a notification or a batch, each call
/// through `dispatch(method, params)`. `None` when nothing is to be sent
/// back (notifications only).
pub async fn handle<F, Fut>(text: &str, dispatch: F) -> Option<String>
where
    F: Fn(String, Value) -> Fut,
    Fut: Future<Output = Result<Value, RpcError>>,
{
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(_) => {
            return Some(single(
                Value::Null,
                Err(RpcError::new(PARSE_ERROR, "parse error")),
            ));
        }
    };
    match value {
        Value::Array(calls) if calls.is_empty() => Some(single(
            Value::Null,
            Err(RpcError::new(INVALID_REQUEST, "empty batch")),
        )),
        Value::Array(calls) if calls.len() > MAX_BATCH => Some(single(
            Value::Null,
            Err(RpcError::new(
                INVALID_REQUEST,
                format!("a batch holds at most {MAX_BATCH} calls"),
            )),
        )),
        Value::Array(calls) => {
            let mut answers = Vec::new();
            for call in calls {
                answers.extend(one(call, &dispatch).await);
            }
            (!answers.is_empty())
                .then(|| Value::Array(answers.into_iter().map(to_value).collect()).to_string())
        }
        call => one(call, &dispatch)
            .await
            .map(|answer| to_value(answer).to_string()),
    }
}

fn to_value(response: Response) -> Value {
    serde_json::to_value(response).unwrap_or(Value::Null)
}

fn single(id: Value, outcome: Result<Value, RpcError>) -> String {
    to_value(Response::new(id, outcome)).to_string()
}

async fn one<F, Fut>(call: Value, dispatch: &F) -> Option<Response>
where
    F: Fn(String, Value) -> Fut,
    Fut: Future<Output = Result<Value, RpcError>>,
{
    let invalid = |id: Value| {
        Some(Response::new(
            id,
            Err(RpcError::new(INVALID_REQUEST, "invalid request")),
        ))
    };
    let Ok(call) = serde_json::from_value::<Incoming>(call) else {
        return invalid(Value::Null);
    };
    let id = call.id.clone();
    // An id must be null, a number or a string (JSON-RPC 2.0, section 4).
    let id_ok = matches!(
        id,
        None | Some(Value::Null | Value::Number(_) | Value::String(_))
    );
    let params_ok = matches!(call.params, None | Some(Value::Array(_) | Value::Object(_)));
    let (Some(Value::String(method)), Some("2.0"), true, true) =
        (call.method, call.jsonrpc.as_deref(), id_ok, params_ok)
    else {
        return invalid(if id_ok {
            id.unwrap_or(Value::Null)
        } else {
            Value::Null
        });
    };
    let outcome = dispatch(method, call.params.unwrap_or(Value::Null)).await;
    id.map(|id| Response::new(id, outcome))
}

/// Parameters of `T`'s shape from a call's `params` (by name).
pub fn params<T: serde::de::DeserializeOwned>(params: Value) -> Result<T, RpcError> {
    let params = if params.is_null() {
        Value::Object(Default::default())
    } else {
        params
    };
    serde_json::from_value(params).map_err(RpcError::invalid_params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn echo(method: String, params: Value) -> Result<Value, RpcError> {
        match method.as_str() {
            "t.echo" => Ok(params),
            "t.fail" => Err(RpcError::new(-32001, "failed")),
            _ => Err(RpcError::new(METHOD_NOT_FOUND, "method not found")),
        }
    }

    async fn answer(text: &str) -> Option<Value> {
        handle(text, echo)
            .await
            .map(|text| serde_json::from_str(&text).unwrap())
    }

    #[tokio::test]
    async fn calls_errors_and_notifications() {
        assert_eq!(
            answer(r#"{"jsonrpc":"2.0","method":"t.echo","params":[1],"id":7}"#).await,
            Some(json!({"jsonrpc":"2.0","result":[1],"id":7}))
        );
        assert_eq!(
            answer(r#"{"jsonrpc":"2.0","method":"t.echo","params":[1]}"#).await,
            None
        );
        assert_eq!(
            answer(r#"{"jsonrpc":"2.0","method":"t.nope","id":"x"}"#)
                .await
                .unwrap()["error"]["code"],
            -32601
        );
        assert_eq!(answer("{").await.unwrap()["error"]["code"], -32700);
        assert_eq!(answer("{").await.unwrap()["id"], Value::Null);
        for invalid in [
            r#"{"jsonrpc":"1.0","method":"t.echo","id":1}"#,
            r#"{"jsonrpc":"2.0","method":5,"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"t.echo","params":3,"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"t.echo","id":{}}"#,
            r#"7"#,
            r#"[]"#,
        ] {
            assert_eq!(
                answer(invalid).await.unwrap()["error"]["code"],
                -32600,
                "{invalid}"
            );
        }
    }

    #[tokio::test]
    async fn batches_answer_each_call_and_skip_notifications() {
        let batch = r#"[
            {"jsonrpc":"2.0","method":"t.echo","params":{"a":1},"id":1},
            {"jsonrpc":"2.0","method":"t.echo","params":[2]},
            {"jsonrpc":"2.0","method":"t.fail","id":2},
            1
        ]"#;
        assert_eq!(
            answer(batch).await,
            Some(json!([
                {"jsonrpc":"2.0","result":{"a":1},"id":1},
                {"jsonrpc":"2.0","error":{"code":-32001,"message":"failed"},"id":2},
                {"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request"},"id":null}
            ]))
        );
        let notifications =
            r#"[{"jsonrpc":"2.0","method":"t.echo"},{"jsonrpc":"2.0","method":"t.echo"}]"#;
        assert_eq!(answer(notifications).await, None);
    }
}
