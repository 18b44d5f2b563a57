//! The web UI in a real headless Chromium (Debian's `chromium` + `chromium-driver`), driven
//! over WebDriver: create the seed's model in the UI, run it to completion and read the log,
//! follow a long run's log live, stop it, switch the language, delete a run.
//!
//! Screenshots land in `target/tmp/browser/` and their paths are printed
//! (`cargo test ... browser -- --nocapture` shows them).

use crate::support::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const WAIT: Duration = Duration::from_secs(60);

/// Kills a child process when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chromedriver and the Chromium it starts, as one process group that is killed when the
/// test ends: a failing test leaves no browser behind.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

fn tool(env_var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        path.exists(),
        "{} not found: the browser test needs Debian's headless Chromium and its WebDriver; \
         install them with `apt-get install -y chromium chromium-driver` (CI's .ci/run does), \
         or point {env_var} at the executable",
        path.display()
    );
    path
}

fn premod(home: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_premod"))
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .expect("run premod");
    assert!(
        out.status.success(),
        "premod {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A home with the seed dataset and the modules the flow runs, deployed; `premod serve` on a
/// free loopback port over it.
struct Server {
    _dir: tempfile::TempDir,
    _process: Killed,
    url: String,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let collection = dir.path().join("collection");
        std::fs::create_dir(&collection).unwrap();
        premod_datagen::write_dataset(
            &premod_datagen::Options::small(),
            &collection.join("dataset.zip"),
        )
        .unwrap();
        premod(
            &home,
            &[
                "dataset",
                "add",
                "image_classification_dataset",
                "--collection",
                collection.to_str().unwrap(),
            ],
        );
        for (name, file) in [
            (
                "image_classification_premodule",
                artifacts::IMAGE_CLASSIFICATION,
            ),
            ("hostile", artifacts::HOSTILE),
        ] {
            premod(
                &home,
                &["module", "add", file, "--name", name, "--version", "1.0.0"],
            );
            premod(&home, &["module", "deploy", &format!("{name}@1.0.0")]);
        }
        let (process, url) = serve(&home, None);
        Server {
            _dir: dir,
            _process: process,
            url,
        }
    }
}

/// `premod serve` on a free loopback port over `home`; returns it and its URL.
fn serve(home: &Path, token: Option<&str>) -> (Killed, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_premod"));
    cmd.arg("--home")
        .arg(home)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env_remove("PREMOD_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(token) = token {
        cmd.env("PREMOD_TOKEN", token);
    }
    let mut child = cmd.spawn().expect("start premod serve");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("premod serve: listening on ")
        .unwrap_or_else(|| panic!("premod serve printed {first:?}, not its address"))
        .to_string();
    (Killed(child), url)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver on a free loopback port, and a headless Chromium session through it.
async fn browser(profile: &Path) -> (Group, Client) {
    let chromium = tool("CHROMIUM", CHROMIUM);
    let driver = tool("CHROMEDRIVER", CHROMEDRIVER);
    let port = free_port();
    let process = Group(
        Command::new(driver)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let caps = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-breakpad",
                "--disable-crash-reporter",
                "--disable-default-apps",
                "--disable-extensions",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        }
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    let started = Instant::now();
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (process, client),
            Err(e) if started.elapsed() < Duration::from_secs(30) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot start a Chromium session through chromedriver: {e}"),
        }
    }
}

/// The test's view of the page: finds, clicks and waits with clear failures.
struct Page {
    client: Client,
    shots: PathBuf,
}

impl Page {
    /// Evaluates `js` (a function body) in the page.
    async fn js(&self, js: &str) -> Value {
        self.client.execute(js, vec![]).await.expect("run script")
    }

    async fn text(&self) -> String {
        self.js("return document.body.innerText")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until `js` returns something other than null/false/"".
    async fn until(&self, what: &str, js: &str) -> Value {
        let started = Instant::now();
        loop {
            let v = self.client.execute(js, vec![]).await.unwrap_or(Value::Null);
            let done = match &v {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if done {
                return v;
            }
            if started.elapsed() > WAIT {
                let shot = self.shot("failure").await;
                panic!(
                    "timed out waiting for {what}; screenshot {}; page:\n{}",
                    shot.display(),
                    self.text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element `css` like a user does, retrying while the page re-renders.
    async fn click(&self, css: &str) {
        let started = Instant::now();
        loop {
            let clicked = match self.client.find(Locator::Css(css)).await {
                Ok(el) => el.click().await.is_ok(),
                Err(_) => false,
            };
            if clicked {
                return;
            }
            assert!(
                started.elapsed() < WAIT,
                "no clickable {css}; page:\n{}",
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn fill(&self, css: &str, text: &str) {
        let el = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no field {css}: {e}"));
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }

    async fn shot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
        path
    }

    async fn hash(&self) -> String {
        self.js("return location.hash")
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_creates_runs_follows_and_stops_a_model_in_headless_chromium() {
    let server = Server::start();
    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = browser(profile.path()).await;
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&shots).unwrap();
    let page = Page { client, shots };
    let base = &server.url;

    // Create the seed's model in the form (Korean is the default language).
    page.client
        .goto(&format!("{base}/#/models/new"))
        .await
        .unwrap();
    page.until(
        "the model form",
        "return document.querySelector('.r-module')",
    )
    .await;
    page.until(
        "the token field to stay hidden (this server has no token)",
        "return document.getElementById('token-field').hidden",
    )
    .await;
    page.fill("#model-name-input", "image_classification_premodel")
        .await;
    page.client
        .find(Locator::Css("#model-dataset"))
        .await
        .unwrap()
        .select_by_value("image_classification_dataset")
        .await
        .unwrap();
    page.fill(".r-module", "image_classification_premodule")
        .await;
    page.click("#create-model").await;
    page.until(
        "the model page",
        "return location.hash === '#/models/image_classification_premodel' && \
         document.querySelector('#model-name')?.textContent === 'image_classification_premodel'",
    )
    .await;
    let text = page.text().await;
    for heading in [
        "Step 1. 기본 정보",
        "Step 2. 데이터셋 컬럼정보",
        "Step 3. 전처리 룰 정보",
        "Step 4. 전처리 실행정보",
        "image_classification_dataset",
        "image_classification_premodule",
    ] {
        assert!(
            text.contains(heading),
            "the model page shows {heading}:\n{text}"
        );
    }

    // Press run; the run reaches 완료 (completed) in the runs table.
    page.click("#run-model").await;
    let first = page
        .until(
            "a run row",
            "return document.querySelector('#runs tr[data-run]')?.dataset.run",
        )
        .await;
    let first: i64 = first.as_str().unwrap().parse().unwrap();
    page.until(
        "the run to complete",
        &format!(
            "return document.querySelector('#runs tr[data-run=\"{first}\"]')?.dataset.status === 'completed'"
        ),
    )
    .await;
    let badge = page
        .js(&format!(
            "return document.querySelector('#runs tr[data-run=\"{first}\"] .badge').textContent"
        ))
        .await;
    assert_eq!(badge, "완료");
    page.shot("1-model-run-completed").await;

    // 상세 (detail): the step list, then the step's log.
    page.click(&format!("#runs tr[data-run=\"{first}\"] a.button"))
        .await;
    page.until(
        "the run detail",
        "return document.querySelector('#run-status .badge')?.dataset.status === 'completed' && \
         document.querySelector('#steps tr[data-step=\"0\"]')?.dataset.status === 'completed'",
    )
    .await;
    let step = page
        .js("return document.querySelector('#steps tr[data-step=\"0\"] th').textContent")
        .await;
    assert_eq!(step, "0_image_classification_premodule");
    page.click("#steps tr[data-step=\"0\"] a.button").await;
    let log = page
        .until(
            "the step log",
            "const l = document.querySelector('#log')?.textContent || ''; \
             return l.includes('Status : total:1, success:1, error:0') && l",
        )
        .await;
    let log = log.as_str().unwrap();
    assert!(log.contains("### preprocessing start ###"), "{log}");
    assert!(log.contains("[hunmin log] dir_list : ['dataset']"), "{log}");
    page.shot("2-step-log").await;

    // A second model, pasted as JSON, whose module sleeps until stopped.
    page.client
        .goto(&format!("{base}/#/models/new"))
        .await
        .unwrap();
    page.click("#mode-json").await;
    let model = json!({
        "name": "sleepy",
        "dataset": "image_classification_dataset",
        "columns": [{"name": "dataset", "type": "file"}],
        "rules": [{"rule_no": 0, "source_columns": ["dataset"], "module": "hostile",
                   "params": {"action": "sleep_ms", "ms": 120_000}}],
    });
    // A mistake first: the API's message shows, and nothing is created.
    let mut wrong = model.clone();
    wrong["rules"][0]["module"] = json!("no_such_module");
    page.fill("#model-json", &wrong.to_string()).await;
    page.click("#create-model").await;
    let error = page
        .until(
            "the error message",
            "return document.querySelector('#flash .err')?.textContent",
        )
        .await;
    assert!(
        error.as_str().unwrap().contains("no_such_module"),
        "the error names the module: {error}"
    );
    assert_eq!(page.hash().await, "#/models/new");
    page.fill("#model-json", &model.to_string()).await;
    page.click("#create-model").await;
    page.until(
        "the sleepy model page",
        "return location.hash === '#/models/sleepy' && document.querySelector('#run-model')",
    )
    .await;
    page.click("#run-model").await;
    let long = page
        .until(
            "the long run row",
            "return document.querySelector('#runs tr[data-run]')?.dataset.run",
        )
        .await;
    let long: i64 = long.as_str().unwrap().parse().unwrap();
    page.click(&format!("#runs tr[data-run=\"{long}\"] a.button"))
        .await;
    page.until(
        "the long run to be running",
        "return document.querySelector('#steps tr[data-step=\"0\"]')?.dataset.status === 'running'",
    )
    .await;
    let badge = page
        .js("return document.querySelector('#run-status .badge').textContent")
        .await;
    assert_eq!(badge, "실행중");

    // The log viewer follows the running step (server-sent events).
    page.click("#steps tr[data-step=\"0\"] a.button").await;
    page.until(
        "the live log",
        "return (document.querySelector('#log')?.textContent || '').includes('### preprocessing start ###')",
    )
    .await;
    assert!(page.hash().await.ends_with("/steps/0/log"));
    page.shot("3-live-log").await;

    // Back to the run; press 중단 (stop); the run ends as stopped, live.
    page.client
        .goto(&format!("{base}/#/runs/{long}"))
        .await
        .unwrap();
    page.until(
        "the stop button",
        "return document.querySelector('#stop-run') && !document.querySelector('#stop-run').disabled",
    )
    .await;
    page.click("#stop-run").await;
    page.until(
        "the run to be stopped",
        "return document.querySelector('#run-status .badge')?.dataset.status === 'stopped'",
    )
    .await;
    let badge = page
        .js("return document.querySelector('#run-status .badge').textContent")
        .await;
    assert_eq!(badge, "중단");
    page.shot("4-run-stopped").await;

    // English labels.
    page.click("#lang").await;
    page.until(
        "English labels",
        "return document.documentElement.lang === 'en' && \
         document.querySelector('#run-status .badge')?.textContent === 'stopped' && \
         document.querySelector('#nav-models').textContent === 'Preprocessing models'",
    )
    .await;

    // Delete the completed run from the seed model's runs table (after the confirm dialog).
    page.client
        .goto(&format!("{base}/#/models/image_classification_premodel"))
        .await
        .unwrap();
    page.click(&format!(
        "#runs tr[data-run=\"{first}\"] button[data-action=\"delete\"]"
    ))
    .await;
    page.client
        .accept_alert()
        .await
        .expect("the confirm dialog");
    page.until(
        "the deleted run to leave the table",
        &format!("return !document.querySelector('#runs tr[data-run=\"{first}\"]')"),
    )
    .await;
    let shot = page.shot("5-model-english").await;
    assert!(shot.exists());

    // The module registry: upload a new version, deploy it, roll back.
    page.client
        .goto(&format!("{base}/#/modules"))
        .await
        .unwrap();
    let file = page
        .client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#upload-file"))
        .await
        .unwrap();
    file.send_keys(artifacts::HOSTILE).await.unwrap();
    page.fill("#upload-name", "hostile").await;
    page.fill("#upload-version", "1.1.0").await;
    page.click("#upload").await;
    let version = |v: &str| {
        format!(
            "document.querySelector('[data-module=\"hostile\"] tr[data-version=\"{v}\"]')?.dataset.status"
        )
    };
    page.until(
        "the uploaded version",
        &format!("return {} === 'registered'", version("1.1.0")),
    )
    .await;
    page.click(
        "[data-module=\"hostile\"] tr[data-version=\"1.1.0\"] button[data-action=\"deploy\"]",
    )
    .await;
    page.until(
        "the new version deployed",
        &format!(
            "return {} === 'deployed' && {} === 'registered'",
            version("1.1.0"),
            version("1.0.0")
        ),
    )
    .await;
    page.click("[data-module=\"hostile\"] button[data-action=\"rollback\"]")
        .await;
    page.until(
        "the rollback",
        &format!(
            "return {} === 'deployed' && {} === 'registered'",
            version("1.0.0"),
            version("1.1.0")
        ),
    )
    .await;
    let buttons = page
        .js(
            "const b = (v, a) => document.querySelector(`[data-module=\"hostile\"] tr[data-version=\"${v}\"] button[data-action=\"${a}\"]`).disabled; \
             return [b('1.0.0', 'deploy'), b('1.0.0', 'delete'), b('1.1.0', 'deploy'), b('1.1.0', 'delete')]",
        )
        .await;
    assert_eq!(
        buttons,
        json!([true, true, false, false]),
        "the deployed version can be neither deployed again nor deleted"
    );
    page.shot("6-module-registry").await;

    // A server with a token: the UI shows the token field, a change without the token is
    // refused with a message that says what to do, and works once the token is typed.
    let token_home = tempfile::tempdir().unwrap();
    let token = "ui-test-token-0123456789";
    let (_token_server, token_url) = serve(token_home.path(), Some(token));
    page.client
        .goto(&format!("{token_url}/#/datasets"))
        .await
        .unwrap();
    page.until(
        "the token field",
        "return !document.getElementById('token-field').hidden && document.querySelector('#dataset-name')",
    )
    .await;
    page.fill("#dataset-name", "guarded").await;
    page.fill("#dataset-collection", token_home.path().to_str().unwrap())
        .await;
    page.click("#add-dataset").await;
    let refused = page
        .until(
            "the 401 message",
            "return document.querySelector('#flash .err')?.textContent",
        )
        .await;
    assert!(
        refused.as_str().unwrap().contains("API 토큰"),
        "the message points at the token field: {refused}"
    );
    page.fill("#token", token).await;
    page.click("#add-dataset").await;
    page.until(
        "the dataset added with the token",
        "return [...document.querySelectorAll('#datasets th')].some((c) => c.textContent === 'guarded')",
    )
    .await;

    page.client.close().await.unwrap();
}
