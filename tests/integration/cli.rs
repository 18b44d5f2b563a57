//! The `premod` binary: output format, exit codes, the seed's log lines on stderr.

use crate::support::*;
use std::process::{Command, Output};

fn premod(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_premod"))
        .args(args)
        .env_remove("PREMOD_LOG")
        .env("PREMOD_HOME", test_home())
        .output()
        .expect("run premod")
}

fn json_out(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn exec_json_reports_a_completed_step_and_streams_the_seed_log() {
    let sb = Sandbox::new();
    let out = premod(&[
        "exec",
        artifacts::HOSTILE,
        "--collection",
        sb.collection().to_str().unwrap(),
        "--output",
        sb.output().to_str().unwrap(),
        "--params",
        r#"{"action": "ok"}"#,
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_out(&out);
    assert_eq!(report["status"], "completed");
    assert!(report["error"].is_null());
    let info = &report["module_info"];
    assert_eq!(info["module_name"], "hostile");
    assert!(info["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(info["api_version"], premod::engine::API_VERSION);
    for key in ["started_at", "finished_at"] {
        assert!(report[key].as_str().unwrap().contains('T'), "{key}");
    }
    for key in [
        "wall_ms",
        "peak_memory_bytes",
        "output_bytes",
        "output_files",
    ] {
        assert!(report["usage"][key].is_u64(), "{key}");
    }
    assert_eq!(report["summary"]["total"], 1);

    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let shape = regex_lite(lines[0]);
    assert!(shape, "seed format: {}", lines[0]);
    assert!(lines[0].ends_with("[ INFO] root: ### preprocessing start ###"));
    assert!(lines.iter().any(|l| l.contains("root: params={\"rule\":")));
    assert!(lines[lines.len() - 2].ends_with("root: ### preprocessing finished ###"));
    assert!(lines[lines.len() - 1].ends_with("root: Status : total:1, success:1, error:0"));
}

/// `YYYY-MM-DD HH:MM:SS,mmm [LEVEL] root: ` without a regex dependency.
fn regex_lite(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 32
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b','
        && b[23] == b' '
        && b[24] == b'['
        && b[30] == b']'
        && line[31..].starts_with(" root: ")
}

#[test]
fn exit_code_1_when_the_module_fails() {
    let sb = Sandbox::new();
    let out = premod(&[
        "exec",
        artifacts::HOSTILE,
        "--collection",
        sb.collection().to_str().unwrap(),
        "--output",
        sb.output().to_str().unwrap(),
        "--params",
        r#"{"action": "loop_forever"}"#,
        "--timeout",
        "0.3",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report = json_out(&out);
    assert_eq!(report["status"], "failed");
    assert_eq!(report["error"]["kind"], "timeout");
    assert!(!sb.output().exists());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[ERROR] root: preprocessing failed (timeout)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Status : total:1, success:0, error:1"),
        "{stderr}"
    );
}

#[test]
fn exit_code_2_for_bad_input() {
    let sb = Sandbox::new();
    let not_wasm = sb.collection().join(COLLECTION_FILE);
    let out = premod(&[
        "exec",
        not_wasm.to_str().unwrap(),
        "--collection",
        sb.collection().to_str().unwrap(),
        "--output",
        sb.output().to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_out(&out)["error"]["kind"], "invalid-module");

    let missing = premod(&[
        "exec",
        artifacts::HOSTILE,
        "--collection",
        "/definitely/not/here",
        "--output",
        sb.output().to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(missing.status.code(), Some(2));
    let report = json_out(&missing);
    assert_eq!(report["error"]["kind"], "invalid-input");
    assert!(
        report["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/definitely/not/here")
    );

    let params = premod(&[
        "exec",
        artifacts::HOSTILE,
        "--collection",
        sb.collection().to_str().unwrap(),
        "--output",
        sb.output().to_str().unwrap(),
        "--params",
        "[1, 2]",
    ]);
    assert_eq!(params.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&params.stderr);
    assert!(
        stderr.contains("--params must be a JSON object"),
        "{stderr}"
    );

    let overlap = premod(&[
        "exec",
        artifacts::HOSTILE,
        "--collection",
        sb.collection().to_str().unwrap(),
        "--output",
        sb.collection().join("out").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(overlap.status.code(), Some(2));
    assert!(!sb.collection().join("out").exists());
}

#[test]
fn transform_reads_batches_from_stdin() {
    use std::io::Write;
    let sb = Sandbox::new();
    std::fs::create_dir(sb.meta()).unwrap();
    std::fs::write(sb.meta().join("state.json"), r#"{"mean": 1.0}"#).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_premod"))
        .args([
            "transform",
            artifacts::HOSTILE,
            "--meta",
            sb.meta().to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"[{\"x\": 3}]\n\n[{\"x\": 1}, {\"x\": 5}]\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            serde_json::json!([{"x": 2.0}]),
            serde_json::json!([{"x": 0.0}, {"x": 4.0}])
        ]
    );
}

#[test]
fn a_closed_stdout_ends_the_output_quietly_without_a_panic() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    for i in 0..3 {
        let folder = home.join(format!("collection_{i}"));
        std::fs::create_dir_all(&folder).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_premod"))
            .args(["--home", home.to_str().unwrap(), "dataset", "add"])
            .arg(format!("dataset_{i}"))
            .arg("--collection")
            .arg(&folder)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_premod"))
        .args(["--home", home.to_str().unwrap(), "dataset", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before premod writes: its writes fail with EPIPE.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
