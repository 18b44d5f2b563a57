//! Datasets and models through the CLI, as a user sets up the seed's model.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn premod(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_premod"))
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .expect("run premod")
}

fn ok(out: &Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

fn refused(out: &Output, needle: &str) {
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

fn seed_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/models/image_classification_premodel.toml")
}

#[test]
fn the_seed_model_is_set_up_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let sb = Sandbox::new();
    let model = seed_model();
    let model = model.to_str().unwrap();

    refused(
        &premod(
            &home,
            &[
                "dataset",
                "add",
                "image_classification_dataset",
                "--collection",
                "/no/such/dir",
            ],
        ),
        "/no/such/dir",
    );
    refused(
        &premod(&home, &["model", "create", model]),
        "no dataset named image_classification_dataset",
    );
    let d = ok(&premod(
        &home,
        &[
            "dataset",
            "add",
            "image_classification_dataset",
            "--collection",
            sb.collection().to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(d["repo_type"], "path");
    refused(
        &premod(
            &home,
            &[
                "dataset",
                "add",
                "image_classification_dataset",
                "--collection",
                sb.collection().to_str().unwrap(),
            ],
        ),
        "already exists",
    );

    refused(
        &premod(&home, &["model", "create", model]),
        "rules[0].module: no module named image_classification_premodule",
    );
    ok(&premod(
        &home,
        &[
            "module",
            "add",
            artifacts::IMAGE_CLASSIFICATION,
            "--name",
            "image_classification_premodule",
            "--version",
            "1.0.0",
        ],
    ));
    let m = ok(&premod(&home, &["model", "create", model, "--json"]));
    assert_eq!(m["name"], "image_classification_premodel");
    assert_eq!(m["columns"][0]["type"], "file");
    refused(
        &premod(&home, &["model", "create", model]),
        "already exists",
    );
    let show = ok(&premod(
        &home,
        &["model", "show", "image_classification_premodel", "--json"],
    ));
    assert_eq!(show["rules"][0]["module"], "image_classification_premodule");
    let human = premod(&home, &["model", "show", "image_classification_premodel"]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("0_image_classification_premodule"));

    refused(
        &premod(&home, &["dataset", "rm", "image_classification_dataset"]),
        "image_classification_premodel",
    );
    ok(&premod(
        &home,
        &["model", "rm", "image_classification_premodel"],
    ));
    ok(&premod(
        &home,
        &["dataset", "rm", "image_classification_dataset"],
    ));
    let list = ok(&premod(&home, &["model", "list", "--json"]));
    assert_eq!(list, serde_json::json!([]));
}

#[test]
fn a_pinned_version_cannot_be_removed_while_the_model_exists() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let sb = Sandbox::new();
    ok(&premod(
        &home,
        &[
            "dataset",
            "add",
            "ds",
            "--collection",
            sb.collection().to_str().unwrap(),
        ],
    ));
    ok(&premod(
        &home,
        &[
            "module",
            "add",
            artifacts::HOSTILE,
            "--name",
            "m",
            "--version",
            "1.0.0",
        ],
    ));
    let text = std::fs::read_to_string(seed_model())
        .unwrap()
        .replace("\"image_classification_dataset\"", "\"ds\"")
        .replace("\"image_classification_premodel\"", "\"pinned\"")
        .replace(
            "module = \"image_classification_premodule\"",
            "module = \"m@1.0.0\"",
        );
    let file = dir.path().join("pinned.toml");
    std::fs::write(&file, text).unwrap();
    ok(&premod(&home, &["model", "create", file.to_str().unwrap()]));
    refused(
        &premod(&home, &["module", "rm", "m@1.0.0"]),
        "model pinned rule 0",
    );
    ok(&premod(&home, &["model", "rm", "pinned"]));
    ok(&premod(&home, &["module", "rm", "m@1.0.0"]));
}

#[test]
fn a_model_file_mistake_names_the_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typo.toml");
    let text = std::fs::read_to_string(seed_model())
        .unwrap()
        .replace("label = false", "lable = false");
    std::fs::write(&file, &text).unwrap();
    let line = text.lines().position(|l| l.starts_with("lable")).unwrap() + 1;
    let out = premod(
        &dir.path().join("home"),
        &["model", "create", file.to_str().unwrap()],
    );
    refused(&out, &format!("typo.toml:{line}:"));
    refused(&out, "lable");
}
