//! Bearer-token auth for mutating requests. The token is compared in constant time (over
//! SHA-256 digests, so its length does not leak either) and is never printed: its `Debug`
//! is redacted and nothing logs request headers.

use super::AppState;
use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Shortest token accepted: a guessable token on a reachable port is no protection.
pub const MIN_TOKEN_LEN: usize = 16;

/// A secret bearer token.
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// Accepts a token of at least [`MIN_TOKEN_LEN`] visible ASCII characters.
    pub fn new(secret: &str) -> Result<Token, String> {
        if secret.len() < MIN_TOKEN_LEN || !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "the API token must be at least {MIN_TOKEN_LEN} visible ASCII characters \
                 without spaces (e.g. from `openssl rand -hex 24`)"
            ));
        }
        Ok(Token {
            digest: Sha256::digest(secret.as_bytes()).into(),
        })
    }

    /// Whether `candidate` is this token, in time independent of where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        let other: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        self.digest.ct_eq(&other).into()
    }
}

/// Whether a request changes something (everything but GET, HEAD and OPTIONS).
pub fn is_mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// With a token configured, a mutating request needs `Authorization: Bearer <token>`.
pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(token) = &state.config().token else {
        return next.run(req).await;
    };
    if !is_mutating(req.method()) {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(candidate) if token.matches(candidate.trim()) => next.run(req).await,
        Some(_) => ApiError::unauthorized(
            "the bearer token is wrong; send the server's token (PREMOD_TOKEN) as \
             `Authorization: Bearer TOKEN`",
        )
        .into_response(),
        None => ApiError::unauthorized(
            "this server needs a token for changes; send `Authorization: Bearer TOKEN` with \
             the token it was started with (PREMOD_TOKEN or --token)",
        )
        .into_response(),
    }
}

/// Refuses requests a web page on another site could make through the user's browser:
/// a mutating request whose `Origin` is not this server (cross-site request forgery), and,
/// when the server has no token (loopback only), any request whose `Host` is not a loopback
/// name (DNS rebinding). Clients that are not browsers send no `Origin`.
pub async fn same_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    if state.config().token.is_none()
        && let Some(h) = &host
        && !is_loopback_host(h)
    {
        return ApiError::forbidden(format!(
            "this server listens on loopback without a token and answers only to localhost \
             names, not {h:?}; open it as http://127.0.0.1:PORT/, or start it with a token \
             to serve other names"
        ))
        .into_response();
    }
    if is_mutating(req.method())
        && let Some(origin) = req.headers().get(header::ORIGIN)
    {
        let origin = origin.to_str().unwrap_or_default().to_ascii_lowercase();
        let authority = origin.split_once("://").map(|(_, a)| a);
        if authority.is_none() || authority != host.as_deref() {
            return ApiError::forbidden(format!(
                "a cross-site request from {origin:?} was refused; changes come from this \
                 server's own pages or from clients that send no Origin"
            ))
            .into_response();
        }
    }
    next.run(req).await
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_exactly_and_never_print() {
        let t = Token::new("0123456789abcdef-secret").unwrap();
        assert!(t.matches("0123456789abcdef-secret"));
        assert!(!t.matches("0123456789abcdef-secreT"));
        assert!(!t.matches(""));
        assert!(!format!("{t:?}").contains("secret"));
        assert!(Token::new("short").is_err());
        assert!(Token::new("has a space in the middle").is_err());
    }

    #[test]
    fn loopback_host_names() {
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:80",
            "127.1.2.3",
            "[::1]:9",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "10.0.0.1:80",
            "[::2]:1",
            "",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
