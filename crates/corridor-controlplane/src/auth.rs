//! Who may ask for channels: callers with a bearer token from the tokens
//! file, or, when no file is configured, callers on loopback only. Each
//! caller is rate limited on its own.

use crate::error::ApiError;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;
use std::net::IpAddr;
use std::num::NonZeroU32;
use subtle::ConstantTimeEq;

/// Callers' limiter keys kept before idle ones are forgotten.
const MAX_TRACKED_CALLERS: usize = 10_000;

/// Requests a caller may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: NonZeroU32,
    /// Requests allowed at once above the sustained rate.
    pub burst: NonZeroU32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_second: NonZeroU32::new(1_000).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(2_000).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// The API's gate.
pub(crate) struct Gate {
    /// SHA-256 of each accepted token: compared in constant time and of
    /// equal length whatever the presented token's length.
    tokens: Vec<[u8; 32]>,
    limiter: DefaultKeyedRateLimiter<String>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("tokens", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

impl Gate {
    pub(crate) fn new(tokens: &[String], rate: RateLimit) -> Gate {
        Gate {
            tokens: tokens
                .iter()
                .map(|token| digest(token.as_bytes()))
                .collect(),
            limiter: RateLimiter::keyed(Quota::per_second(rate.per_second).allow_burst(rate.burst)),
        }
    }

    /// Whether callers must present a token (else loopback only).
    pub(crate) fn requires_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Admits a request from `remote` with `headers`, or says why not.
    pub(crate) fn admit(&self, remote: IpAddr, headers: &HeaderMap) -> Result<(), ApiError> {
        let caller = self.caller(remote, headers)?;
        if self.limiter.len() > MAX_TRACKED_CALLERS {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&caller)
            .map_err(|_| ApiError::new(429, "rate_limited", "too many requests from this caller"))
    }

    /// The caller's rate-limit key: its token's index, or its address.
    fn caller(&self, remote: IpAddr, headers: &HeaderMap) -> Result<String, ApiError> {
        if self.tokens.is_empty() {
            if remote.is_loopback() {
                return Ok(remote.to_string());
            }
            return Err(ApiError::new(
                403,
                "loopback_only",
                "no API tokens are configured, so only loopback callers are served",
            ));
        }
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| ApiError::new(401, "unauthorized", "a bearer token is required"))?;
        let presented = digest(presented.as_bytes());
        // Every token is compared, so the time does not tell which matched.
        let mut matched = None;
        for (index, token) in self.tokens.iter().enumerate() {
            if bool::from(token.ct_eq(&presented)) {
                matched = Some(index);
            }
        }
        matched
            .map(|index| format!("token-{index}"))
            .ok_or_else(|| ApiError::new(401, "unauthorized", "the bearer token is not accepted"))
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

/// Reads a tokens file: one token per line; blank lines and `#` comments skipped.
pub fn parse_tokens_file(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}
