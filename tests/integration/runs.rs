//! Runs of models through the CLI: steps in order, logs, stop, delete, crash recovery.

use crate::support::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

struct Env {
    _dir: tempfile::TempDir,
    home: PathBuf,
    collection: PathBuf,
}

fn premod(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_premod"))
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .expect("run premod")
}

fn ok_json(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

impl Env {
    /// A home with a dataset `ds` whose collection holds a small dataset.zip and data.txt,
    /// and the modules `hostile` and `image_classification_premodule`, both deployed.
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let collection = dir.path().join("collection");
        std::fs::create_dir(&collection).unwrap();
        std::fs::write(collection.join(COLLECTION_FILE), COLLECTION_TEXT).unwrap();
        premod_datagen::write_dataset(
            &premod_datagen::Options::small(),
            &collection.join("dataset.zip"),
        )
        .unwrap();
        let env = Env {
            _dir: dir,
            home,
            collection,
        };
        env.ok(&[
            "dataset",
            "add",
            "ds",
            "--collection",
            env.collection.to_str().unwrap(),
        ]);
        for (name, file) in [
            ("hostile", artifacts::HOSTILE),
            (
                "image_classification_premodule",
                artifacts::IMAGE_CLASSIFICATION,
            ),
        ] {
            env.ok(&["module", "add", file, "--name", name, "--version", "1.0.0"]);
            env.ok(&["module", "deploy", &format!("{name}@1.0.0")]);
        }
        env
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = premod(&self.home, args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Creates model `name` whose rules run `rules` (module, params) in order.
    fn model(&self, name: &str, rules: &[(&str, Value)]) {
        let mut text = format!(
            "name = \"{name}\"\ndataset = \"ds\"\n\n[[columns]]\nname = \"dataset\"\ntype = \"file\"\n"
        );
        for (i, (module, params)) in rules.iter().enumerate() {
            text.push_str(&format!(
                "\n[[rules]]\nrule_no = {i}\nsource_columns = [\"dataset\"]\nmodule = \"{module}\"\nparams = {}\n",
                toml_inline(params)
            ));
        }
        let file = self.home.parent().unwrap().join(format!("{name}.toml"));
        std::fs::write(&file, text).unwrap();
        self.ok(&["model", "create", file.to_str().unwrap()]);
    }

    fn show(&self, id: i64) -> Value {
        ok_json(&premod(
            &self.home,
            &["run", "show", &id.to_string(), "--json"],
        ))
    }

    fn wait_for(&self, id: i64, what: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            // The run may not exist yet while another process is still creating it.
            let out = premod(&self.home, &["run", "show", &id.to_string(), "--json"]);
            let run: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            if what(&run) {
                return run;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "run never got there: {run}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn start(&self, model: &str) -> i64 {
        let run = ok_json(&premod(&self.home, &["run", model, "--json"]));
        run["id"].as_i64().unwrap()
    }
}

/// Kills the child process if the test ends early, so no premod outlives its test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `{"action": "ok", "ms": 5}` as a TOML inline table.
fn toml_inline(v: &Value) -> String {
    let fields: Vec<String> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

#[test]
fn the_seed_model_runs_to_completion_with_the_seed_log() {
    let env = Env::new();
    env.model("seed", &[("image_classification_premodule", json!({}))]);
    let waited = premod(&env.home, &["run", "seed", "--wait", "--json"]);
    let run = ok_json(&waited);
    assert_eq!(run["status"], "completed", "{run}");
    // stderr is a pipe here: the progress bar becomes plain, throttled lines.
    let stderr = String::from_utf8_lossy(&waited.stderr);
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("progress "))
        .collect();
    assert!(
        progress.len() >= 2 && progress.len() <= 11,
        "one line per tenth of the way: {progress:?}"
    );
    assert!(progress.last().unwrap().ends_with("(100%)"), "{stderr}");
    assert!(stderr.contains("### preprocessing start ###"), "{stderr}");
    let step = &run["steps"][0];
    assert_eq!(step["name"], "0_image_classification_premodule");
    assert_eq!(step["status"], "completed");
    assert_eq!(step["module_version"], "1.0.0");
    assert!(
        step["module_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(step["module_info"]["status"], "deployed");
    assert!(step["progress"][1].as_u64().unwrap() > 0);
    assert!(run["started_at"].is_string() && run["finished_at"].is_string());

    let output = PathBuf::from(run["output"].as_str().unwrap());
    assert!(output.ends_with("pm/pm_seed/ds_1"), "{}", output.display());
    assert!(output.join("dataset").join("labels.csv").exists());

    let log = std::fs::read_to_string(step["log"].as_str().unwrap()).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines[0].ends_with("root: ### preprocessing start ###"));
    assert!(lines[1].contains("root: params={\"rule\":"));
    assert!(log.contains("[hunmin log] dir_list : ['dataset']"));
    assert!(lines[lines.len() - 2].ends_with("### preprocessing finished ###"));
    assert!(lines[lines.len() - 1].ends_with("Status : total:1, success:1, error:0"));

    let printed = env.ok(&["logs", "1"]);
    assert_eq!(String::from_utf8_lossy(&printed.stdout), log);
    let runs = ok_json(&premod(&env.home, &["runs", "--json"]));
    assert_eq!(runs.as_array().unwrap().len(), 1);
    let rm = premod(&env.home, &["model", "rm", "seed"]);
    assert_eq!(rm.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&rm.stderr).contains("has 1 run(s)"));
    env.ok(&["rm", "1"]);
    assert!(!output.exists(), "rm deletes the run's output");
    env.ok(&["model", "rm", "seed"]);
}

#[test]
fn native_capabilities_off_reaches_the_background_worker() {
    let env = Env::new();
    env.model("seed", &[("image_classification_premodule", json!({}))]);
    let log_of = |args: &[&str]| {
        let id = ok_json(&premod(&env.home, args))["id"].as_i64().unwrap();
        let run = env.wait_for(id, |r| {
            r["status"] == "completed" || r["status"] == "failed"
        });
        assert_eq!(run["status"], "completed", "{run}");
        std::fs::read_to_string(run["steps"][0]["log"].as_str().unwrap()).unwrap()
    };
    // The default: the module asks the host, which extracts natively.
    let on = log_of(&["run", "seed", "--json"]);
    assert!(on.contains("premod:native/zip extracted"), "{on}");
    // Off on the command line: the worker process started for the run is off too, and the
    // module extracts in its sandbox.
    let off = log_of(&["--native-capabilities", "off", "run", "seed", "--json"]);
    assert!(!off.contains("premod:native/zip"), "{off}");
    assert!(off.contains("extraction: in the module"), "{off}");

    let bad = premod(&env.home, &["--native-capabilities", "maybe", "runs"]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("expected `on` or `off`"), "{stderr}");
}

#[test]
fn rules_chain_through_input_and_a_failing_rule_stops_the_chain() {
    let env = Env::new();
    env.model(
        "chain",
        &[
            ("hostile", json!({"action": "ok"})),
            ("hostile@1.0.0", json!({"action": "echo_context"})),
        ],
    );
    let run = ok_json(&premod(&env.home, &["run", "chain", "--wait", "--json"]));
    assert_eq!(run["status"], "completed", "{run}");
    let out = PathBuf::from(run["output"].as_str().unwrap());
    let ctx: Value =
        serde_json::from_slice(&std::fs::read(out.join("context.json")).unwrap()).unwrap();
    assert_eq!(
        ctx["paths"]["input"], "/input",
        "step 1 reads step 0's output"
    );
    assert_eq!(run["steps"][1]["name"], "1_hostile");

    env.model(
        "broken",
        &[
            ("hostile", json!({"action": "typed_error"})),
            ("hostile", json!({"action": "ok"})),
        ],
    );
    let failed = premod(&env.home, &["run", "broken", "--wait", "--json"]);
    assert_eq!(failed.status.code(), Some(1));
    let run: Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error"]["kind"], "module-error");
    assert_eq!(run["steps"][0]["status"], "failed");
    assert_eq!(run["steps"][1]["status"], "skipped");
    assert!(run["output"].is_null());
    let log = std::fs::read_to_string(run["steps"][0]["log"].as_str().unwrap()).unwrap();
    assert!(
        log.contains("Status : total:1, success:0, error:1"),
        "{log}"
    );
}

#[test]
fn stop_interrupts_busy_and_blocked_guests_and_rm_deletes_the_run() {
    let env = Env::new();
    env.model("busy", &[("hostile", json!({"action": "loop_forever"}))]);
    env.model(
        "blocked",
        &[("hostile", json!({"action": "sleep_forever"}))],
    );
    for model in ["busy", "blocked"] {
        let id = env.start(model);
        env.wait_for(id, |r| {
            r["status"] == "running" && r["steps"][0]["status"] == "running"
        });
        let rm = premod(&env.home, &["rm", &id.to_string()]);
        assert_eq!(rm.status.code(), Some(2), "a running run cannot be deleted");
        assert!(String::from_utf8_lossy(&rm.stderr).contains("stop it first"));

        let t = Instant::now();
        let stopped = ok_json(&premod(&env.home, &["stop", &id.to_string(), "--json"]));
        assert_eq!(stopped["status"], "stopped", "{model}: {stopped}");
        assert_eq!(stopped["steps"][0]["status"], "stopped");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{model}: stop took {:?}",
            t.elapsed()
        );
        let work = env.home.join("work").join(format!("run_{id}"));
        assert!(!work.exists(), "{model}: no staged output left");

        env.ok(&["rm", &id.to_string()]);
        assert!(!env.home.join("logs").join(format!("run_{id}")).exists());
        let gone = premod(&env.home, &["run", "show", &id.to_string()]);
        assert_eq!(gone.status.code(), Some(2));
    }
}

#[test]
fn a_killed_host_is_recovered_at_the_next_start() {
    let env = Env::new();
    env.model("slow", &[("hostile", json!({"action": "sleep_forever"}))]);
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_premod"))
            .arg("--home")
            .arg(&env.home)
            .args(["run", "slow", "--wait"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    env.wait_for(1, |r| r["steps"][0]["status"] == "running");
    let work = env.home.join("work").join("run_1");
    assert!(work.exists(), "the step is staging its output");
    child.0.kill().unwrap(); // SIGKILL: no cleanup runs
    child.0.wait().unwrap();

    let run = env.show(1);
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error"]["kind"], "interrupted");
    assert_eq!(run["steps"][0]["status"], "failed");
    assert_eq!(run["steps"][0]["error"]["kind"], "interrupted");
    assert!(!work.exists(), "staging removed");
    // The module version it leased is free again, and the next run works.
    env.model("quick", &[("hostile", json!({"action": "ok"}))]);
    let next = ok_json(&premod(&env.home, &["run", "quick", "--wait", "--json"]));
    assert_eq!(next["status"], "completed");
}

#[test]
fn concurrent_runs_of_the_same_model_all_complete() {
    let env = Env::new();
    env.model(
        "nap",
        &[("hostile", json!({"action": "sleep_ms", "ms": 300}))],
    );
    let ids: Vec<i64> = (0..3).map(|_| env.start("nap")).collect();
    for id in ids {
        let run = env.wait_for(id, |r| {
            r["status"] != "registered" && r["status"] != "running"
        });
        assert_eq!(run["status"], "completed", "{run}");
        let out = PathBuf::from(run["output"].as_str().unwrap());
        assert!(out.join("ok.txt").exists());
    }
    // Stopping a finished run changes nothing.
    let again = ok_json(&premod(&env.home, &["stop", "1", "--json"]));
    assert_eq!(again["status"], "completed");
}
