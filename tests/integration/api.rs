//! The HTTP API: every endpoint's success and error paths through the router without sockets
//! (`tower::ServiceExt::oneshot`), runs executed by the real `premod worker`, inference with
//! real components, and real-socket tests for server-sent events, early 413 and auth.

use crate::support::*;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use futures_util::StreamExt;
use premod::engine::Engine;
use premod::home::Home;
use premod::server::{self, AppState, Config, Token};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};
use tower::ServiceExt;

const TOKEN: &str = "test-token-0123456789abcdef";

fn engine() -> Arc<Engine> {
    static ENGINE: LazyLock<Arc<Engine>> =
        LazyLock::new(|| Arc::new(Engine::new().expect("engine")));
    Arc::clone(&ENGINE)
}

/// A server over a fresh home whose dataset `ds` holds a small dataset.zip and data.txt.
struct Api {
    dir: tempfile::TempDir,
    home: Home,
    state: AppState,
    app: Router,
    token: Option<&'static str>,
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the status and, for errors, the one error shape with this code.
    fn expect(self, status: StatusCode, code: Option<&str>) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        let body = self.json();
        if let Some(code) = code {
            assert_eq!(body["error"]["code"], code, "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.len() > 10, "an actionable message: {body}");
        }
        body
    }
}

impl Api {
    fn new() -> Api {
        Self::with(|_| {})
    }

    fn with(tune: impl FnOnce(&mut Config)) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("home")).unwrap();
        let collection = dir.path().join("collection");
        std::fs::create_dir(&collection).unwrap();
        std::fs::write(collection.join(COLLECTION_FILE), COLLECTION_TEXT).unwrap();
        premod_datagen::write_dataset(
            &premod_datagen::Options::small(),
            &collection.join("dataset.zip"),
        )
        .unwrap();
        let mut config = Config::new(home.clone());
        config.worker_exe = PathBuf::from(env!("CARGO_BIN_EXE_premod"));
        config.workers = 4;
        config.poll = Duration::from_millis(50);
        tune(&mut config);
        let token = config.token.as_ref().map(|_| TOKEN);
        let state = AppState::new(config, engine());
        let app = server::app(state.clone());
        Api {
            dir,
            home,
            state,
            app,
            token,
        }
    }

    fn collection(&self) -> PathBuf {
        self.dir.path().join("collection")
    }

    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    fn request(&self, method: Method, uri: &str) -> axum::http::request::Builder {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(t) = self.token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        b
    }

    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        let b = self.request(method, uri);
        let req = match body {
            Some(v) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        };
        self.send(req.unwrap()).await
    }

    async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, None).await
    }

    async fn post(&self, uri: &str, body: Value) -> Reply {
        self.call(Method::POST, uri, Some(body)).await
    }

    async fn delete(&self, uri: &str) -> Reply {
        self.call(Method::DELETE, uri, None).await
    }

    async fn upload(&self, name: &str, version: &str, bytes: Vec<u8>) -> Reply {
        let req = self
            .request(
                Method::POST,
                &format!("/v1/modules?name={name}&version={version}"),
            )
            .header(header::CONTENT_TYPE, "application/wasm")
            .body(Body::from(bytes))
            .unwrap();
        self.send(req).await
    }

    /// Registers dataset `ds` and uploads and deploys `hostile` and
    /// `image_classification_premodule` 1.0.0.
    async fn seed(&self) {
        let ds = json!({"name": "ds", "collection": self.collection()});
        self.post("/v1/datasets", ds)
            .await
            .expect(StatusCode::CREATED, None);
        for (name, file) in [
            ("hostile", artifacts::HOSTILE),
            (
                "image_classification_premodule",
                artifacts::IMAGE_CLASSIFICATION,
            ),
        ] {
            self.upload(name, "1.0.0", std::fs::read(file).unwrap())
                .await
                .expect(StatusCode::CREATED, None);
            self.post(
                &format!("/v1/modules/{name}/versions/1.0.0/deploy"),
                json!(null),
            )
            .await
            .expect(StatusCode::OK, None);
        }
    }

    /// Creates model `name` whose rules run (module, params) in order on `ds`.
    async fn model(&self, name: &str, rules: &[(&str, Value)]) -> Value {
        self.post("/v1/models", model_def(name, rules))
            .await
            .expect(StatusCode::CREATED, None)
    }

    async fn start(&self, model: &str) -> i64 {
        let run = self
            .post(&format!("/v1/models/{model}/runs"), json!({}))
            .await
            .expect(StatusCode::CREATED, None);
        assert_eq!(run["model"], model);
        run["id"].as_i64().unwrap()
    }

    async fn wait_for(&self, id: i64, what: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let run = self
                .get(&format!("/v1/runs/{id}"))
                .await
                .expect(StatusCode::OK, None);
            if what(&run) {
                return run;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "run never got there: {run}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_final(&self, id: i64) -> Value {
        self.wait_for(id, |r| {
            matches!(
                r["status"].as_str(),
                Some("completed" | "failed" | "stopped")
            )
        })
        .await
    }
}

fn model_def(name: &str, rules: &[(&str, Value)]) -> Value {
    json!({
        "name": name,
        "dataset": "ds",
        "columns": [{"name": "dataset", "type": "file"}],
        "rules": rules.iter().enumerate().map(|(i, (module, params))| json!({
            "rule_no": i,
            "source_columns": ["dataset"],
            "module": module,
            "params": params,
        })).collect::<Vec<_>>(),
    })
}

/// Every file under `dir`, relative.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn health_openapi_and_unknown_routes() {
    let api = Api::new();
    let health = api.get("/v1/health").await.expect(StatusCode::OK, None);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["auth_required"], false);
    assert_eq!(health["native_capabilities"]["version"], "1.0.0");
    assert_eq!(health["native_capabilities"]["zip"], true);
    let doc = api.get("/openapi.json").await.expect(StatusCode::OK, None);
    assert_eq!(doc["openapi"], "3.1.0");
    api.get("/v1/nothing/here")
        .await
        .expect(StatusCode::NOT_FOUND, Some("not_found"));
    api.call(Method::PUT, "/v1/health", None)
        .await
        .expect(StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"));
    let ui = api.get("/").await;
    assert_eq!(ui.status, StatusCode::OK);
    assert!(
        ui.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

/// The document in the repository and the router agree: every route in the code is
/// documented, every documented operation is a route, and each one answers.
#[tokio::test]
async fn openapi_document_matches_the_routes() {
    let file =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json"))
            .unwrap();
    assert_eq!(file, server::OPENAPI, "the served document is the file");
    let doc: Value = serde_json::from_str(&file).unwrap();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.push((method.to_uppercase(), path.clone()));
            assert!(op["operationId"].is_string(), "{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|k| k.starts_with('2')),
                "{method} {path} documents a success"
            );
            if method != "get" {
                assert!(
                    responses.contains_key("401") && responses.contains_key("403"),
                    "{method} {path} documents 401 and 403"
                );
            }
        }
    }
    documented.sort();
    let mut routes: Vec<(String, String)> = server::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    routes.sort();
    let missing: Vec<_> = routes.iter().filter(|r| !documented.contains(r)).collect();
    let extra: Vec<_> = documented.iter().filter(|r| !routes.contains(r)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes not in docs/openapi.json: {missing:?}; documented but not routes: {extra:?}"
    );

    // Each one is routed (a handler answers, not the router's fallbacks).
    let api = Api::new();
    for (method, path) in &routes {
        let uri = path
            .replace("{name}", "x")
            .replace("{version}", "1.0.0")
            .replace("{id}", "1")
            .replace("{rule_no}", "0");
        let reply = api
            .call(Method::from_bytes(method.as_bytes()).unwrap(), &uri, None)
            .await;
        if let Ok(body) = serde_json::from_slice::<Value>(&reply.body) {
            let code = body["error"]["code"].as_str().unwrap_or_default();
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                code != "method_not_allowed" && !message.starts_with("no route"),
                "{method} {uri} is not routed: {body}"
            );
        }
    }
}

#[tokio::test]
async fn datasets_success_and_errors() {
    let api = Api::new();
    assert_eq!(api.get("/v1/datasets").await.json(), json!([]));
    let c = api.collection();
    let d = api
        .post("/v1/datasets", json!({"name": "ds", "collection": c}))
        .await
        .expect(StatusCode::CREATED, None);
    assert_eq!(d["repo_type"], "path");
    api.post("/v1/datasets", json!({"name": "ds", "collection": c}))
        .await
        .expect(StatusCode::CONFLICT, Some("conflict"));
    api.post("/v1/datasets", json!({"name": "../etc", "collection": c}))
        .await
        .expect(StatusCode::BAD_REQUEST, Some("bad_request"));
    api.post(
        "/v1/datasets",
        json!({"name": "rel", "collection": "collection"}),
    )
    .await
    .expect(StatusCode::BAD_REQUEST, Some("bad_request"));
    let e = api
        .post(
            "/v1/datasets",
            json!({"name": "gone", "collection": "/no/such/folder"}),
        )
        .await
        .expect(StatusCode::BAD_REQUEST, Some("bad_request"));
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/no/such/folder")
    );
    let e = api
        .post(
            "/v1/datasets",
            json!({"name": "x", "collection": c, "extra": 1}),
        )
        .await
        .expect(StatusCode::BAD_REQUEST, Some("bad_request"));
    assert!(
        e["error"]["message"].as_str().unwrap().contains("extra"),
        "{e}"
    );
    // Not JSON, malformed JSON, too deep, too large.
    let req = Request::post("/v1/datasets")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("name=ds"))
        .unwrap();
    api.send(req).await.expect(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Some("unsupported_media_type"),
    );
    let req = Request::post("/v1/datasets")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"name\": "))
        .unwrap();
    let e = api
        .send(req)
        .await
        .expect(StatusCode::BAD_REQUEST, Some("bad_request"));
    assert!(
        e["error"]["message"].as_str().unwrap().contains("line 1"),
        "{e}"
    );
    let deep = format!("{{\"name\": {}1{}}}", "[".repeat(40), "]".repeat(40));
    let req = Request::post("/v1/datasets")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(deep))
        .unwrap();
    api.send(req)
        .await
        .expect(StatusCode::BAD_REQUEST, Some("bad_request"));
    let big = json!({"name": "x".repeat(2 << 20), "collection": c});
    api.post("/v1/datasets", big)
        .await
        .expect(StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"));

    let one = api
        .get("/v1/datasets/ds")
        .await
        .expect(StatusCode::OK, None);
    assert_eq!(one["name"], "ds");
    api.get("/v1/datasets/nope")
        .await
        .expect(StatusCode::NOT_FOUND, Some("not_found"));
    api.get("/v1/datasets/NO.PE")
        .await
        .expect(StatusCode::BAD_REQUEST, Some("bad_request"));
    assert_eq!(
        api.get("/v1/datasets")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    api.delete("/v1/datasets/ds")
        .await
        .expect(StatusCode::OK, None);
    api.delete("/v1/datasets/ds")
        .await
        .expect(StatusCode::NOT_FOUND, Some("not_found"));
}

#[tokio::test]
async fn modules_success_and_errors() {
    let api = Api::new();
    let hostile = std::fs::read(artifacts::HOSTILE).unwrap();
    let other = std::fs::read(artifacts::IMAGE_CLASSIFICATION).unwrap();
    let added = api
        .upload("hostile", "1.0.0", hostile.clone())
        .await
        .expect(StatusCode::CREATED, None);
    assert_eq!(added["created"], true);
    assert_eq!(added["status"], "registered");
    let again = api
        .upload("hostile", "1.0", hostile.clone())
        .await
        .expect(StatusCode::OK, None);
    assert_eq!(again["created"], false);
    let e = api
        .upload("hostile", "1.0.0", other.clone())
        .await
        .expect(StatusCode::CONFLICT, Some("conflict"));
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("new version"),
        "{e}"
    );
    api.upload("junk", "1.0.0", b"not wasm at all".to_vec())
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_module"));
    api.upload("Bad/Name", "1.0.0", hostile.clone())
        .await
        .expect(StatusCode::BAD_REQUEST, Some("bad_request"));
    api.upload("hostile", "one", hostile.clone())
        .await
        .expect(StatusCode::BAD_REQUEST, Some("bad_request"));
    let req = api
        .request(Method::POST, "/v1/modules?name=hostile")
        .body(Body::from(hostile.clone()))
        .unwrap();
    let e = api
        .send(req)
        .await
        .expect(StatusCode::BAD_REQUEST, Some("bad_request"));
    assert!(
        e["error"]["message"].as_str().unwrap().contains("version"),
        "{e}"
    );
    api.upload("hostile", "1.1.0", hostile.clone())
        .await
        .expect(StatusCode::CREATED, None);

    let list = api.get("/v1/modules").await.expect(StatusCode::OK, None);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    api.get("/v1/modules/nope")
        .await
        .expect(StatusCode::NOT_FOUND, Some("not_found"));
    api.get("/v1/modules/hostile/versions/9.9.9")
        .await
        .expect(StatusCode::NOT_FOUND, Some("not_found"));
    let v = api
        .get("/v1/modules/hostile/versions/1.0")
        .await
        .expect(StatusCode::OK, None);
    assert_eq!(v["version"], "1.0.0");
    assert_eq!(v["leases"], json!([]));

    // Deploy, redeploy, roll back.
    api.post("/v1/modules/hostile/versions/9.9.9/deploy", json!(null))
        .await
        .expect(StatusCode::NOT_FOUND, Some("not_found"));
    api.post("/v1/modules/hostile/rollback", json!(null))
        .await
        .expect(StatusCode::CONFLICT, Some("conflict"));
    let d = api
        .post(
            "/v1/modules/hostile/versions/1.0.0/deploy?note=first",
            json!(null),
        )
        .await
        .expect(StatusCode::OK, None);
    assert_eq!(d["status"], "deployed");
    api.post("/v1/modules/hostile/versions/1.1.0/deploy", json!(null))
        .await
        .expect(StatusCode::OK, None);
    let back = api
        .post("/v1/modules/hostile/rollback", json!(null))
        .await
        .expect(StatusCode::OK, None);
    assert_eq!(back["version"], "1.0.0");
    let show = api
        .get("/v1/modules/hostile")
        .await
        .expect(StatusCode::OK, None);
    assert_eq!(show["deployed"], "1.0.0");
    let actions: Vec<&str> = show["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["deploy", "deploy", "rollback"]);
    assert_eq!(show["history"][0]["note"], "first");

    // Deprecate and remove: refused for the deployed version.
    api.post("/v1/modules/hostile/versions/1.0.0/deprecate", json!(null))
        .await
        .expect(StatusCode::CONFLICT, Some("conflict"));
    let dep = api
        .post("/v1/modules/hostile/versions/1.1.0/deprecate", json!(null))
        .await
        .expect(StatusCode::OK, None);
    assert_eq!(dep["status"], "deprecated");
    api.delete("/v1/modules/hostile/versions/1.0.0")
        .await
        .expect(StatusCode::CONFLICT, Some("conflict"));
    let rm = api
        .delete("/v1/modules/hostile/versions/1.1.0")
        .await
        .expect(StatusCode::OK, None);
    assert_eq!(rm["status"], "retired");
    api.delete("/v1/modules/hostile/versions/1.1.0")
        .await
        .expect(StatusCode::CONFLICT, Some("conflict"));
}

/// An upload over the limit is refused from its `Content-Length` before the body is read,
/// and a chunked one as soon as it passes the limit; neither leaves a file behind.
#[tokio::test]
async fn oversized_upload_is_refused_early_and_leaves_no_file() {
    let api = Api::with(|c| c.max_upload = 64 << 10);
    let before = files(api.home.root());

    let polled = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&polled);
    let body = futures_util::stream::once(async move {
        flag.store(true, Ordering::SeqCst);
        Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![0u8; 1024]))
    });
    let req = api
        .request(Method::POST, "/v1/modules?name=big&version=1.0.0")
        .header(header::CONTENT_LENGTH, (10u64 << 20).to_string())
        .body(Body::from_stream(body))
        .unwrap();
    let e = api
        .send(req)
        .await
        .expect(StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"));
    assert!(!polled.load(Ordering::SeqCst), "the body was read: {e}");

    // No Content-Length: refused once 64 KiB have arrived, not after the whole stream.
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    let chunks = futures_util::stream::iter(0..1000).map(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![0u8; 16 << 10]))
    });
    let req = api
        .request(Method::POST, "/v1/modules?name=big&version=1.0.0")
        .body(Body::from_stream(chunks))
        .unwrap();
    api.send(req)
        .await
        .expect(StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"));
    assert!(sent.load(Ordering::SeqCst) <= 6, "read past the limit");

    assert_eq!(files(api.home.root()), before, "an upload left a file");
    assert_eq!(api.get("/v1/modules").await.json(), json!([]));
}

#[tokio::test]
async fn models_success_and_errors() {
    let api = Api::new();
    api.seed().await;
    let m = api
        .model("seed", &[("image_classification_premodule", json!({}))])
        .await;
    assert_eq!(m["rules"][0]["module"], "image_classification_premodule");
    assert!(m["created_at"].is_string());
    api.post(
        "/v1/models",
        model_def("seed", &[("image_classification_premodule", json!({}))]),
    )
    .await
    .expect(StatusCode::CONFLICT, Some("conflict"));
    let mut typo = model_def("typo", &[("hostile", json!({}))]);
    typo["rules"][0]["source_colums"] = json!(["dataset"]);
    let e = api
        .post("/v1/models", typo)
        .await
        .expect(StatusCode::BAD_REQUEST, Some("bad_request"));
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("source_colums"),
        "{e}"
    );
    let mut nodata = model_def("nodata", &[("hostile", json!({}))]);
    nodata["dataset"] = json!("missing");
    let e = api
        .post("/v1/models", nodata)
        .await
        .expect(StatusCode::BAD_REQUEST, Some("bad_request"));
    assert!(
        e["error"]["message"].as_str().unwrap().contains("missing"),
        "{e}"
    );
    let e = api
        .post(
            "/v1/models",
            model_def("nomod", &[("no_such_module", json!({}))]),
        )
        .await
        .expect(StatusCode::BAD_REQUEST, Some("bad_request"));
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rules[0].module"),
        "{e}"
    );

    let list = api.get("/v1/models").await.expect(StatusCode::OK, None);
    assert_eq!(list.as_array().unwrap().len(), 1);
    api.get("/v1/models/seed")
        .await
        .expect(StatusCode::OK, None);
    api.get("/v1/models/nope")
        .await
        .expect(StatusCode::NOT_FOUND, Some("not_found"));
    api.delete("/v1/datasets/ds")
        .await
        .expect(StatusCode::CONFLICT, Some("conflict"));
    api.delete("/v1/models/seed")
        .await
        .expect(StatusCode::OK, None);
    api.delete("/v1/models/seed")
        .await
        .expect(StatusCode::NOT_FOUND, Some("not_found"));
}

/// The seed model runs through the API to completion with the seed's log; a long run stops.
#[tokio::test]
async fn runs_complete_stop_and_delete() {
    let api = Api::new();
    api.seed().await;
    api.model("seed", &[("image_classification_premodule", json!({}))])
        .await;
    api.model("slow", &[("hostile", json!({"action": "sleep_forever"}))])
        .await;
    api.post("/v1/models/nope/runs", json!({}))
        .await
        .expect(StatusCode::NOT_FOUND, Some("not_found"));
    api.post("/v1/models/seed/runs", json!({"dataset": "other"}))
        .await
        .expect(StatusCode::NOT_FOUND, Some("not_found"));
    api.post("/v1/models/seed/runs", json!({"limits": {"timeout": -1}}))
        .await
        .expect(StatusCode::BAD_REQUEST, Some("bad_request"));

    let id = api.start("seed").await;
    let run = api.wait_final(id).await;
    assert_eq!(run["status"], "completed", "{run}");
    let step = &run["steps"][0];
    assert_eq!(step["name"], "0_image_classification_premodule");
    assert_eq!(step["module_version"], "1.0.0");
    assert!(step["progress"][1].as_u64().unwrap() > 0, "{step}");
    let log = api.get(&format!("/v1/runs/{id}/steps/0/log")).await;
    assert_eq!(log.status, StatusCode::OK);
    assert!(
        log.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = log.text();
    assert!(text.contains("### preprocessing start ###"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("Status : total:1, success:1, error:0"),
        "{text}"
    );
    api.get(&format!("/v1/runs/{id}/steps/5/log"))
        .await
        .expect(StatusCode::NOT_FOUND, Some("not_found"));
    api.get("/v1/runs/999")
        .await
        .expect(StatusCode::NOT_FOUND, Some("not_found"));
    api.get("/v1/runs/abc")
        .await
        .expect(StatusCode::BAD_REQUEST, Some("bad_request"));

    // A run that sleeps: stop it; it cannot be deleted while it runs.
    let slow = api.start("slow").await;
    api.wait_for(slow, |r| r["steps"][0]["status"] == "running")
        .await;
    api.delete(&format!("/v1/runs/{slow}"))
        .await
        .expect(StatusCode::CONFLICT, Some("conflict"));
    api.post(&format!("/v1/runs/{slow}/stop"), json!(null))
        .await
        .expect(StatusCode::OK, None);
    let stopped = api.wait_final(slow).await;
    assert_eq!(stopped["status"], "stopped", "{stopped}");
    assert_eq!(stopped["error"]["kind"], "stopped");

    let seed_runs = api
        .get("/v1/runs?model=seed")
        .await
        .expect(StatusCode::OK, None);
    assert_eq!(seed_runs.as_array().unwrap().len(), 1);
    assert_eq!(
        api.get("/v1/runs").await.json().as_array().unwrap().len(),
        2
    );
    api.get("/v1/runs?model=../x")
        .await
        .expect(StatusCode::BAD_REQUEST, Some("bad_request"));
    api.delete("/v1/models/seed")
        .await
        .expect(StatusCode::CONFLICT, Some("conflict"));
    let output = PathBuf::from(run["output"].as_str().unwrap());
    assert!(output.exists());
    api.delete(&format!("/v1/runs/{id}"))
        .await
        .expect(StatusCode::OK, None);
    assert!(!output.exists(), "delete removes the output");
    api.get(&format!("/v1/runs/{id}"))
        .await
        .expect(StatusCode::NOT_FOUND, Some("not_found"));
    api.post(&format!("/v1/runs/{id}/stop"), json!(null))
        .await
        .expect(StatusCode::NOT_FOUND, Some("not_found"));
}

/// Inference: every rule's transform in order, with the latest completed run's fitted
/// state, init-svc once per pooled instance.
#[tokio::test]
async fn transform_uses_the_fitted_state_and_pooled_instances() {
    let api = Api::with(|c| c.max_batch = 4096);
    api.seed().await;
    let fit = json!({"action": "meta_roundtrip"});
    api.model("mean", &[("hostile", fit.clone()), ("hostile", fit)])
        .await;
    let batch = json!({"batch": [{"x": 10.0}, {"x": 1.0}], "batch_id": 7});
    let e = api
        .post("/v1/models/mean/transform", batch.clone())
        .await
        .expect(StatusCode::CONFLICT, Some("conflict"));
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no completed run"),
        "{e}"
    );
    api.post("/v1/models/nope/transform", batch.clone())
        .await
        .expect(StatusCode::NOT_FOUND, Some("not_found"));

    let first = api.start("mean").await;
    assert_eq!(api.wait_final(first).await["status"], "completed");
    let out = api
        .post("/v1/models/mean/transform", batch.clone())
        .await
        .expect(StatusCode::OK, None);
    // Each rule subtracts its fitted mean, 2.5.
    assert_eq!(out["batch"], json!([{"x": 5.0}, {"x": -4.0}]), "{out}");
    assert_eq!(out["batch_id"], 7);
    assert_eq!(out["run_id"], first);

    // The pooled instance already ran init-svc: a changed state file is not read again.
    let meta0 = premod::runs::meta_dir(&api.home, "mean", 0).join("state.json");
    std::fs::write(&meta0, r#"{"mean": 100.0}"#).unwrap();
    let out = api
        .post("/v1/models/mean/transform", batch.clone())
        .await
        .expect(StatusCode::OK, None);
    assert_eq!(out["batch"], json!([{"x": 5.0}, {"x": -4.0}]), "{out}");

    // The module's own error: 422, and the instance stays usable.
    let e = api
        .post("/v1/models/mean/transform", json!({"batch": [{"y": 1}]}))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY, Some("module_error"));
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("rule 0 (hostile)"),
        "{e}"
    );
    api.post("/v1/models/mean/transform", batch.clone())
        .await
        .expect(StatusCode::OK, None);
    api.post("/v1/models/mean/transform", json!({"batch": {"x": 1}}))
        .await
        .expect(StatusCode::BAD_REQUEST, Some("bad_request"));
    let big = json!({"batch": vec![json!({"x": 1.0}); 1000]});
    api.post("/v1/models/mean/transform", big)
        .await
        .expect(StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"));

    // A newer completed run replaces the pooled instances: they start from its state.
    let second = api.start("mean").await;
    assert_eq!(api.wait_final(second).await["status"], "completed");
    std::fs::write(&meta0, r#"{"mean": 100.0}"#).unwrap();
    let out = api
        .post("/v1/models/mean/transform", batch)
        .await
        .expect(StatusCode::OK, None);
    assert_eq!(out["run_id"], second);
    assert_eq!(out["batch"], json!([{"x": -92.5}, {"x": -101.5}]), "{out}");
}

#[tokio::test]
async fn a_token_guards_every_change() {
    let api = Api::with(|c| c.token = Some(Token::new(TOKEN).unwrap()));
    let health = api.get("/v1/health").await.expect(StatusCode::OK, None);
    assert_eq!(health["auth_required"], true);
    let c = api.collection();
    for auth in [None, Some("Bearer wrong-token-0123456789"), Some(TOKEN)] {
        let mut b = Request::post("/v1/datasets").header(header::CONTENT_TYPE, "application/json");
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        let req = b
            .body(Body::from(
                json!({"name": "ds", "collection": c}).to_string(),
            ))
            .unwrap();
        let reply = api.send(req).await;
        assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
        reply.expect(StatusCode::UNAUTHORIZED, Some("unauthorized"));
    }
    for (method, uri) in [
        (Method::POST, "/v1/runs/1/stop"),
        (Method::DELETE, "/v1/runs/1"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        api.send(req)
            .await
            .expect(StatusCode::UNAUTHORIZED, Some("unauthorized"));
    }
    // Reads need no token; the right token allows changes.
    assert_eq!(
        api.send(Request::get("/v1/datasets").body(Body::empty()).unwrap())
            .await
            .status,
        StatusCode::OK
    );
    api.post("/v1/datasets", json!({"name": "ds", "collection": c}))
        .await
        .expect(StatusCode::CREATED, None);
}

/// A page on another site cannot make the user's browser change anything, and a server
/// without a token answers only to localhost names (DNS rebinding).
#[tokio::test]
async fn cross_site_and_rebound_requests_are_refused() {
    let api = Api::new();
    let c = api.collection();
    let post = |origin: &str, host: &str, name: &str| {
        Request::post("/v1/datasets")
            .header(header::HOST, host)
            .header(header::ORIGIN, origin)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"name": name, "collection": c}).to_string(),
            ))
            .unwrap()
    };
    api.send(post("http://evil.example", "127.0.0.1:8080", "a"))
        .await
        .expect(StatusCode::FORBIDDEN, Some("forbidden"));
    api.send(post("null", "127.0.0.1:8080", "a"))
        .await
        .expect(StatusCode::FORBIDDEN, Some("forbidden"));
    api.send(post("http://127.0.0.1:8080", "127.0.0.1:8080", "a"))
        .await
        .expect(StatusCode::CREATED, None);
    let rebound = Request::get("/v1/datasets")
        .header(header::HOST, "evil.example:8080")
        .body(Body::empty())
        .unwrap();
    api.send(rebound)
        .await
        .expect(StatusCode::FORBIDDEN, Some("forbidden"));
    let local = Request::get("/v1/datasets")
        .header(header::HOST, "localhost:8080")
        .body(Body::empty())
        .unwrap();
    assert_eq!(api.send(local).await.status, StatusCode::OK);

    // With a token the server may be reached by other names; the Origin check stays.
    let api = Api::with(|c| c.token = Some(Token::new(TOKEN).unwrap()));
    let named = Request::get("/v1/datasets")
        .header(header::HOST, "premod.internal:8080")
        .body(Body::empty())
        .unwrap();
    assert_eq!(api.send(named).await.status, StatusCode::OK);
    let req = api
        .request(Method::POST, "/v1/runs/1/stop")
        .header(header::HOST, "premod.internal:8080")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::empty())
        .unwrap();
    api.send(req)
        .await
        .expect(StatusCode::FORBIDDEN, Some("forbidden"));
}

#[test]
fn serve_refuses_to_listen_beyond_loopback_without_a_token() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str], token: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_premod"));
        cmd.arg("--home").arg(home.path()).arg("serve").args(args);
        cmd.env_remove("PREMOD_TOKEN");
        if let Some(t) = token {
            cmd.env("PREMOD_TOKEN", t);
        }
        cmd.output().unwrap()
    };
    let out = run(&["--addr", "0.0.0.0:0"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PREMOD_TOKEN") && err.contains("127.0.0.1"),
        "{err}"
    );
    let out = run(&["--addr", "0.0.0.0:0"], Some("short"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 16"));
}

/// A server on a real socket, stopped when dropped.
struct Live {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Live {
    async fn start(api: &Api) -> Live {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server::serve(listener, api.state.clone(), async move {
            let _ = stopped.await;
        }));
        Live {
            addr,
            stop: Some(stop),
        }
    }

    /// Sends raw request text; reads the response until `until` appears or the connection
    /// closes.
    async fn raw(&self, request: &str, until: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let read = async {
            let mut buf = [0u8; 8192];
            loop {
                let n = s.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                if String::from_utf8_lossy(&got).contains(until) {
                    break;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(60), read)
            .await
            .unwrap_or_else(|_| panic!("no {until:?} in: {}", String::from_utf8_lossy(&got)));
        String::from_utf8_lossy(&got).into_owned()
    }

    async fn sse(&self, path: &str, extra: &str) -> String {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{extra}\r\n"
        );
        self.raw(&req, "event: end").await
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The message events of an SSE text: (id, data).
fn messages(text: &str) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut id = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("data: ")
            && let Some(i) = id.take()
        {
            out.push((i, v.to_string()));
        }
    }
    out
}

#[tokio::test]
async fn live_logs_and_events_over_a_real_socket() {
    let api = Api::new();
    api.seed().await;
    api.model(
        "slow",
        &[("hostile", json!({"action": "sleep_ms", "ms": 1500}))],
    )
    .await;
    let live = Live::start(&api).await;
    let id = api.start("slow").await;
    let (log_path, events_path) = (
        format!("/v1/runs/{id}/steps/0/log/stream"),
        format!("/v1/runs/{id}/events"),
    );
    let (log, events) = tokio::join!(live.sse(&log_path, ""), live.sse(&events_path, ""));
    assert!(log.contains("content-type: text/event-stream"), "{log}");
    let lines = messages(&log);
    assert!(
        lines[0].1.ends_with("### preprocessing start ###"),
        "{lines:?}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .1
            .ends_with("Status : total:1, success:1, error:0"),
        "{lines:?}"
    );
    let file = api.get(&format!("/v1/runs/{id}/steps/0/log")).await.text();
    let streamed: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    assert_eq!(streamed, file, "the stream is the whole log, in order");
    assert_eq!(lines.last().unwrap().0, file.len() as u64);

    // Status changes arrive as `run` events: running, then completed; then `end`.
    let statuses: Vec<String> = events
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .map(|r| r["status"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(statuses.contains(&"running".to_string()), "{statuses:?}");
    assert_eq!(statuses.last().unwrap(), "completed", "{events}");
    assert!(events.contains("event: run") && events.contains("event: end"));

    // A reconnect with Last-Event-ID gets only what follows.
    let (offset, _) = &lines[1];
    let rest = live
        .sse(
            &format!("/v1/runs/{id}/steps/0/log/stream"),
            &format!("Last-Event-ID: {offset}\r\n"),
        )
        .await;
    let rest = messages(&rest);
    assert_eq!(rest.len(), lines.len() - 2, "{rest:?}");
    assert_eq!(rest[0], lines[2]);

    // Unknown runs are errors before any stream starts.
    let missing = live
        .raw(
            "GET /v1/runs/999/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            "\"not_found\"",
        )
        .await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
}

#[tokio::test]
async fn oversized_upload_gets_413_before_the_body_is_sent() {
    let api = Api::with(|c| c.max_upload = 1 << 20);
    let live = Live::start(&api).await;
    // Announce 300 MiB and send none of it: the answer comes at once.
    let reply = live
        .raw(
            "POST /v1/modules?name=big&version=1.0.0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Content-Type: application/wasm\r\nContent-Length: 314572800\r\n\r\n",
            "}}",
        )
        .await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("\"payload_too_large\""), "{reply}");
    assert!(!api.home.blobs().exists() || files(&api.home.blobs()).is_empty());
}
