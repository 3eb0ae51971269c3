//! The HTTP API: flowersec 0.27's connect-artifact contract on
//! `POST /v1/connect/artifact`, the demo's `POST /v1/channel/init`, and
//! `/healthz`, `/metrics`, with flowersec's error envelope and statuses.

use crate::error::{ApiError, json_response};
use crate::protocol::{self, GRANT, GrantPush};
use crate::state::State;
use bytes::Bytes;
use corridor_core::grant::{self, ChannelInitGrant};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

/// flowersec's artifact path.
pub const ARTIFACT_PATH: &str = "/v1/connect/artifact";
/// flowersec's demo channel-init path.
pub const CHANNEL_INIT_PATH: &str = "/v1/channel/init";

fn text(status: StatusCode, body: String, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Routes one request.
pub(crate) async fn route(
    state: Arc<State>,
    remote: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let response = match (req.method(), path.as_str()) {
        (&Method::POST, ARTIFACT_PATH) => outcome(&state, artifact(&state, remote, req).await),
        (&Method::POST, CHANNEL_INIT_PATH) => {
            outcome(&state, channel_init(&state, remote, req).await)
        }
        (&Method::GET, protocol::CONTROL_PATH) => {
            crate::control::upgrade(state.clone(), req, remote)
        }
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n".into(), "text/plain"),
        (&Method::GET, "/metrics") => text(
            StatusCode::OK,
            state.metrics.encode(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        (
            _,
            ARTIFACT_PATH | CHANNEL_INIT_PATH | protocol::CONTROL_PATH | "/healthz" | "/metrics",
        ) => ApiError::new(405, "method_not_allowed", "method not allowed").response(),
        _ => ApiError::new(404, "not_found", "no such path").response(),
    };
    Ok(response)
}

/// Counts the outcome and renders it.
fn outcome(state: &State, result: Result<Value, ApiError>) -> Response<Full<Bytes>> {
    match result {
        Ok(body) => {
            state.metrics.artifact("issued");
            json_response(StatusCode::OK, &body)
        }
        Err(error) => {
            state.metrics.artifact(error.code());
            error.response()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArtifactRequest {
    endpoint_id: String,
    // Accepted as flowersec does; corridor's issuer has no use for it yet.
    #[serde(default)]
    #[allow(dead_code)]
    payload: Option<Map<String, Value>>,
    #[serde(default)]
    correlation: Option<CorrelationInput>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CorrelationInput {
    #[serde(default)]
    trace_id: Option<String>,
}

#[derive(Deserialize)]
struct ChannelInitRequest {
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    endpoint_id: Option<String>,
}

async fn artifact(
    state: &State,
    remote: SocketAddr,
    req: Request<Incoming>,
) -> Result<Value, ApiError> {
    state.gate.admit(remote.ip(), req.headers())?;
    let request: ArtifactRequest = read_json(state, req).await?;
    let endpoint_id = protocol::endpoint_id(&request.endpoint_id)
        .map_err(|message| ApiError::new(400, "invalid_request", message))?;
    let grant = issue(state, endpoint_id, None).await?;
    let mut artifact = json!({"v": 1, "transport": "tunnel", "tunnel_grant": grant});
    let trace_id = request
        .correlation
        .and_then(|correlation| correlation.trace_id)
        .map(|trace| trace.trim().to_owned())
        .filter(|trace| valid_trace_id(trace));
    if let Some(trace_id) = trace_id {
        artifact["correlation"] = json!({"v": 1, "trace_id": trace_id, "tags": []});
    }
    Ok(json!({ "connect_artifact": artifact }))
}

async fn channel_init(
    state: &State,
    remote: SocketAddr,
    req: Request<Incoming>,
) -> Result<Value, ApiError> {
    state.gate.admit(remote.ip(), req.headers())?;
    let request: ChannelInitRequest = read_json(state, req).await?;
    let endpoint_id = match request.endpoint_id {
        Some(id) => protocol::endpoint_id(&id)
            .map_err(|message| ApiError::new(400, "invalid_request", message))?
            .to_owned(),
        // The demo's shape: one endpoint connected, no id needed.
        None => state.registry.only_id().ok_or_else(|| {
            ApiError::new(
                400,
                "invalid_request",
                "endpoint_id is required unless exactly one endpoint id is connected",
            )
        })?,
    };
    let channel_id = match request.channel_id {
        Some(id) => {
            let id = id.trim();
            if id.is_empty() || id.len() > 256 {
                return Err(ApiError::new(400, "invalid_request", "bad channel_id"));
            }
            Some(id.to_owned())
        }
        None => None,
    };
    let grant = issue(state, &endpoint_id, channel_id).await?;
    Ok(json!({ "grant_client": grant }))
}

/// Mints a channel, hands the server grant to an endpoint of `endpoint_id`
/// (the next in turn, then the others), and returns the client's grant once
/// one has taken it.
async fn issue(
    state: &State,
    endpoint_id: &str,
    channel_id: Option<String>,
) -> Result<ChannelInitGrant, ApiError> {
    let candidates = state.registry.candidates(endpoint_id);
    if candidates.is_empty() {
        return Err(ApiError::new(
            503,
            "endpoint_not_connected",
            format!("no endpoint {endpoint_id:?} is connected"),
        ));
    }
    let channel_id = channel_id.unwrap_or_else(|| grant::random_channel_id(&mut rand_core::OsRng));
    let pair = grant::mint(
        &state.config.issuer,
        &state.config.grants,
        &channel_id,
        corridor::clock::unix_now(),
        &mut rand_core::OsRng,
    )
    .map_err(|error| ApiError::new(500, "mint_failed", error.to_string()))?;
    let push = GrantPush { grant: pair.server };
    for endpoint in candidates {
        let started = std::time::Instant::now();
        let taken = endpoint
            .call_with_timeout::<_, Value>(GRANT, &push, state.config.push_timeout)
            .await;
        match taken {
            Ok(_) => {
                state.metrics.pushed(started.elapsed());
                return Ok(pair.client);
            }
            Err(error) => {
                tracing::debug!(endpoint_id, %error, "an endpoint did not take a grant; trying the next");
            }
        }
    }
    Err(ApiError::new(
        503,
        "endpoint_unavailable",
        format!("no endpoint {endpoint_id:?} took the channel"),
    ))
}

/// Reads a bounded JSON body after flowersec's checks: content type (415),
/// size (413), then JSON (400).
async fn read_json<T: serde::de::DeserializeOwned>(
    state: &State,
    req: Request<Incoming>,
) -> Result<T, ApiError> {
    let json_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            "content type must be application/json",
        ));
    }
    let limit = state.config.max_body_bytes;
    let too_large = || {
        ApiError::new(
            413,
            "body_too_large",
            format!("request body exceeds {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let body = Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map_err(|error| {
            if error.is::<http_body_util::LengthLimitError>() {
                too_large()
            } else {
                ApiError::new(400, "invalid_json", "the request body could not be read")
            }
        })?
        .to_bytes();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            400,
            "invalid_json",
            "request body must be a JSON object",
        ));
    }
    serde_json::from_slice(&body)
        .map_err(|_| ApiError::new(400, "invalid_json", "malformed JSON request body"))
}

/// flowersec keeps a trace id of 8 to 128 URL-safe characters.
fn valid_trace_id(trace: &str) -> bool {
    (8..=128).contains(&trace.len())
        && trace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}
