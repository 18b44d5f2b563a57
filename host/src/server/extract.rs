//! Request input, checked before any handler sees it: JSON bodies with size and depth limits,
//! streamed bodies with an early size check, and names validated like the CLI's.

use super::error::{ApiError, ApiResult};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

/// Deepest nesting of arrays and objects accepted in a JSON body.
pub const MAX_JSON_DEPTH: usize = 32;

/// A JSON body: at most the route's body limit (`DefaultBodyLimit`), at most
/// [`MAX_JSON_DEPTH`] levels deep, with errors in the API's shape.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        let bytes = json_bytes(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body as text, checked for size, depth and UTF-8 but not parsed: for callers that
/// parse it themselves with better errors (model definitions).
pub struct JsonText(pub String);

impl<S: Send + Sync> FromRequest<S> for JsonText {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        let bytes = json_bytes(req, state).await?;
        check_depth(&bytes, MAX_JSON_DEPTH)?;
        String::from_utf8(bytes.to_vec())
            .map(JsonText)
            .map_err(|_| ApiError::bad_request("the JSON body is not UTF-8 text"))
    }
}

async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> ApiResult<Bytes> {
    require_json(&req)?;
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!(
                "the JSON body is over the limit of this route ({})",
                e.body_text()
            ))
        } else {
            ApiError::bad_request(format!("cannot read the request body: {}", e.body_text()))
        }
    })
}

/// An optional JSON body: an empty body is `None`.
pub struct OptionalJson<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        let empty = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0")
            || (!req.headers().contains_key(header::CONTENT_TYPE)
                && !req.headers().contains_key(header::CONTENT_LENGTH)
                && !req.headers().contains_key(header::TRANSFER_ENCODING));
        if empty {
            return Ok(OptionalJson(None));
        }
        let ApiJson(value) = ApiJson::<T>::from_request(req, state).await?;
        Ok(OptionalJson(Some(value)))
    }
}

/// Path parameters, with errors in the API's shape (e.g. a run id that is not a number).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(e) => Err(ApiError::bad_request(format!(
                "{} in the URL {}",
                e.body_text(),
                parts.uri.path()
            ))),
        }
    }
}

/// Query parameters, with errors in the API's shape.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

fn require_json(req: &Request) -> ApiResult<()> {
    let ok = match req.headers().get(header::CONTENT_TYPE) {
        None => true,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || m.ends_with("+json")
            }),
    };
    match ok {
        true => Ok(()),
        false => Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        )),
    }
}

/// Parses a JSON body after checking its depth.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    check_depth(bytes, MAX_JSON_DEPTH)?;
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the JSON body is not valid at line {} column {}: {e}",
            e.line(),
            e.column()
        ))
    })
}

/// Refuses JSON nested deeper than `max` arrays/objects, without parsing it.
pub fn check_depth(bytes: &[u8], max: usize) -> ApiResult<()> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(ApiError::bad_request(format!(
                        "the JSON body is nested more than {max} levels deep; flatten it"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Reads a streamed body of at most `limit` bytes. A `Content-Length` over the limit is
/// refused before any byte is read; a body that grows past it is refused as soon as it does.
/// Nothing is written to disk.
pub async fn read_limited(
    headers: &axum::http::HeaderMap,
    body: Body,
    limit: u64,
    what: &str,
) -> ApiResult<Bytes> {
    let too_large = |size: String| {
        ApiError::too_large(format!(
            "{what} is {size}, over the limit of {limit} bytes; send a smaller one or start \
             the server with a larger limit"
        ))
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit
    {
        return Err(too_large(format!("{len} bytes")));
    }
    let mut stream = body.into_data_stream();
    let mut data = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
        if data.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large("larger".into()));
        }
        data.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(data))
}

/// A name from the URL or a body: `[a-z0-9_-]{1,64}`, as the registry requires.
pub fn name(text: &str) -> ApiResult<&str> {
    crate::registry::validate_name(text)?;
    Ok(text)
}

/// A semantic version from the URL, normalised (`1.0` is `1.0.0`).
pub fn version(text: &str) -> ApiResult<String> {
    Ok(crate::registry::normalize_version(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_counted_outside_strings_only() {
        check_depth(br#"{"a":[1,{"b":"[[[[[["}]}"#, 3).unwrap();
        assert!(check_depth(b"[[[[1]]]]", 3).is_err());
        check_depth(br#"["\"[[[[[["]"#, 1).unwrap();
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        let e = parse_json::<serde_json::Value>(deep.as_bytes()).unwrap_err();
        assert_eq!(e.code, "bad_request");
        assert!(e.message.contains("32 levels"), "{e}");
    }
}
