//! The web UI: static HTML/CSS/JS from `host/ui/`, embedded in the binary and served at `/`
//! (the page) and `/ui/{file}` (its scripts and styles).
//!
//! The page talks only to the `/v1` JSON API; nothing here reads the disk at run time. Every
//! response carries a strict Content-Security-Policy (same-origin scripts, styles and
//! connections only: the UI needs nothing from elsewhere) and an ETag, with `no-cache` so a
//! browser revalidates and a new binary never shows stale files.

use super::ApiError;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../ui/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../ui/app.js"),
    },
    Asset {
        name: "i18n.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../ui/i18n.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../ui/app.css"),
    },
];

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data:; connect-src 'self'; form-action 'self'; \
                   base-uri 'none'; frame-ancestors 'none'";

/// Strong ETags (`"sha256-prefix"`), computed once.
fn etag(index: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    &TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })[index]
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return ApiError::not_found(format!(
            "no UI file `{name}`; the UI starts at / (files: {})",
            ASSETS.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")
        ))
        .into_response();
    };
    let asset = &ASSETS[index];
    let tag = etag(index);
    let headers = [
        (header::ETAG, HeaderValue::from_static(tag)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    let unchanged = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == tag
        });
    if unchanged {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (
        headers,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        asset.body,
    )
        .into_response()
}

/// Routes of the UI: `/` (the page) and `/ui/{file}` (its assets). GET and HEAD.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move { serve("index.html", &headers) }),
        )
        .route(
            "/ui/{*file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move {
                serve(&file, &headers)
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str, if_none_match: Option<&str>) -> Response {
        let mut req = Request::get(path);
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        router::<()>()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    async fn body(resp: Response) -> String {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_page_and_its_assets_have_their_types_and_headers() {
        for (path, ty) in [
            ("/", "text/html; charset=utf-8"),
            ("/ui/index.html", "text/html; charset=utf-8"),
            ("/ui/app.js", "text/javascript; charset=utf-8"),
            ("/ui/i18n.js", "text/javascript; charset=utf-8"),
            ("/ui/app.css", "text/css; charset=utf-8"),
        ] {
            let resp = get(path, None).await;
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            let h = resp.headers();
            assert_eq!(h[header::CONTENT_TYPE], ty, "{path}");
            assert_eq!(h[header::CACHE_CONTROL], "no-cache", "{path}");
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert!(
                h[header::CONTENT_SECURITY_POLICY]
                    .to_str()
                    .unwrap()
                    .contains("script-src 'self'")
            );
            assert!(h[header::ETAG].to_str().unwrap().starts_with('"'));
            assert!(!body(resp).await.is_empty());
        }
    }

    #[tokio::test]
    async fn the_page_links_only_embedded_same_origin_files() {
        let html = body(get("/", None).await).await;
        for name in ["/ui/app.js", "/ui/i18n.js", "/ui/app.css"] {
            assert!(
                html.contains(&format!("\"{name}\"")),
                "index.html links {name}"
            );
        }
        // Nothing from elsewhere: the machine that serves the UI may have no network.
        for asset in ASSETS {
            let text = std::str::from_utf8(asset.body).unwrap();
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{} references another origin",
                asset.name
            );
        }
    }

    #[tokio::test]
    async fn a_matching_etag_gets_304_and_a_stale_one_the_file() {
        let first = get("/ui/app.js", None).await;
        let tag = first.headers()[header::ETAG].to_str().unwrap().to_string();
        let again = get("/ui/app.js", Some(&tag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::ETAG].to_str().unwrap(), tag);
        assert!(body(again).await.is_empty());
        let weak = get("/ui/app.js", Some(&format!("\"x\", W/{tag}"))).await;
        assert_eq!(weak.status(), StatusCode::NOT_MODIFIED);
        let stale = get("/ui/app.js", Some("\"0000\"")).await;
        assert_eq!(stale.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn unknown_files_and_path_tricks_are_404_in_the_api_error_shape() {
        for path in [
            "/ui/nope.js",
            "/ui/../Cargo.toml",
            "/ui/%2e%2e/Cargo.toml",
            "/ui/sub/app.js",
        ] {
            let resp = get(path, None).await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
            let json: serde_json::Value = serde_json::from_str(&body(resp).await).unwrap();
            assert_eq!(json["error"]["code"], "not_found", "{path}");
            assert!(
                json["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("the UI starts at /")
            );
        }
    }
}
