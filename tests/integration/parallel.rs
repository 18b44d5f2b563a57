//! Per-item (data-parallel) steps: the `items` guest (`tests/guests/items`) in the real host.
//! Each item file's content tells the guest what to do (`fail`, `trap`, `spin`, `grow`, or
//! write it upper-cased), and `finish` writes `/output/manifest.txt` in item order.

use crate::support::{Run, Sandbox, artifacts, assert_host_still_works, engine, run};
use crate::support::{run_with_cancel, test_limits};
use premod::exec::ExecRequest;
use premod::limits::Limits;
use premod::step::{Batch, OnItemError, Parallel};
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A sandbox whose collection holds `files` (relative path, content), and nothing else.
fn sandbox(files: &[(&str, &str)]) -> Sandbox {
    let sb = Sandbox::new();
    std::fs::remove_file(sb.collection().join(crate::support::COLLECTION_FILE)).unwrap();
    for (name, content) in files {
        let path = sb.collection().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    sb
}

fn request(
    sb: &Sandbox,
    params: serde_json::Value,
    limits: Limits,
    workers: usize,
    on_item_error: OnItemError,
) -> ExecRequest {
    let mut req = sb.request(artifacts::ITEMS, params, limits);
    req.parallel = Parallel {
        workers,
        on_item_error,
        whole: false,
    };
    req
}

/// Every file under `dir`, relative, with its content, sorted.
fn tree(dir: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.push((rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn manifest(run: &Run, sb: &Sandbox) -> Vec<String> {
    assert_eq!(run.report.status, "completed", "{:?}", run.report.error);
    std::fs::read_to_string(sb.output().join("manifest.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn status_line(run: &Run) -> String {
    run.messages()
        .into_iter()
        .find(|m| m.starts_with("Status : "))
        .expect("a Status line")
}

fn many_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = (0..17)
        .map(|i| {
            (
                format!("set{}/img{i:02}.txt", i % 3),
                format!("item number {i}\n"),
            )
        })
        .collect();
    files.push(("set0/skip.dat".into(), "not an item".into()));
    files.push(("top.TXT".into(), "upper-case extension".into()));
    files
}

#[tokio::test]
async fn per_item_output_is_identical_to_the_single_instance_path() {
    let files = many_files();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let params = json!({"extensions": [".txt"]});
    let mut outputs = Vec::new();
    for (workers, whole) in [(1, true), (1, false), (2, false), (4, false)] {
        let sb = sandbox(&files);
        let mut req = request(
            &sb,
            params.clone(),
            test_limits(),
            workers,
            OnItemError::Fail,
        );
        req.parallel.whole = whole;
        let r = run(req).await;
        assert_eq!(r.report.status, "completed", "{:?}", r.report.error);
        let summary = r.report.summary.clone().unwrap();
        assert_eq!((summary.total, summary.success, summary.error), (18, 18, 0));
        assert_eq!(status_line(&r), "Status : total:18, success:18, error:0");
        let per_item = r
            .messages()
            .iter()
            .any(|m| m.starts_with("per-item step: 18 items"));
        assert_eq!(per_item, !whole, "{:?}", r.messages());
        outputs.push(tree(&sb.output()));
    }
    assert_eq!(outputs[0].len(), 19, "18 items and the manifest");
    assert!(outputs[0].contains(&("set1/img04.txt".into(), "ITEM NUMBER 4\n".into())));
    for other in &outputs[1..] {
        assert_eq!(other, &outputs[0]);
    }
}

#[tokio::test]
async fn items_are_sorted_paths_or_the_modules_keys_in_its_order() {
    let sb = sandbox(&[("b/2.txt", "x"), ("a.txt", "yy"), ("b/10.txt", "zzz")]);
    let r = run(request(&sb, json!({}), test_limits(), 2, OnItemError::Fail)).await;
    assert_eq!(
        manifest(&r, &sb),
        [
            "0 /collection/a.txt ok:2",
            "1 /collection/b/10.txt ok:3",
            "2 /collection/b/2.txt ok:1",
        ]
    );
    let progress = r.log.progress_events();
    assert_eq!(progress.first(), Some(&(0, 3)));
    assert_eq!(progress.last(), Some(&(3, 3)));

    let sb = sandbox(&[("c", "1"), ("a", "22"), ("b", "333")]);
    let keys = json!({"keys": ["c", "a", "b"]});
    let r = run(request(&sb, keys, test_limits(), 2, OnItemError::Fail)).await;
    assert_eq!(manifest(&r, &sb), ["0 c ok:1", "1 a ok:2", "2 b ok:3"]);
    assert_eq!(
        std::fs::read_to_string(sb.output().join("b.out")).unwrap(),
        "333"
    );
}

#[tokio::test]
async fn a_failed_item_fails_the_step_by_default() {
    let sb = sandbox(&[("a.txt", "ok"), ("b.txt", "fail please"), ("c.txt", "ok")]);
    let r = run(request(&sb, json!({}), test_limits(), 2, OnItemError::Fail)).await;
    assert_eq!(r.error_kind(), Some("module-error"));
    let msg = r.error_message();
    assert!(msg.contains("item #1 /collection/b.txt failed"), "{msg}");
    assert!(
        msg.contains("invalid-data: /collection/b.txt says fail"),
        "{msg}"
    );
    assert!(msg.contains("--on-item-error skip"), "{msg}");
    assert_eq!(status_line(&r), "Status : total:1, success:0, error:1");
    assert!(!sb.output().exists(), "a failed step leaves no output");
    let leftovers: Vec<_> = std::fs::read_dir(sb.dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "only the collection: no staging folder");

    let sb = sandbox(&[("a.txt", "ok"), ("b.txt", "trap")]);
    let r = run(request(&sb, json!({}), test_limits(), 2, OnItemError::Fail)).await;
    assert_eq!(r.error_kind(), Some("trap"));
    assert!(
        r.error_message().contains("item #1 /collection/b.txt"),
        "{}",
        r.error_message()
    );
    assert_host_still_works().await;
}

#[tokio::test]
async fn skip_logs_and_counts_failed_items_and_goes_on() {
    let sb = sandbox(&[
        ("0.txt", "zero"),
        ("1.txt", "fail"),
        ("2.txt", "trap"),
        ("3.txt", "grow"),
        ("4.txt", "four"),
        ("5.txt", "five"),
    ]);
    let limits = Limits {
        memory_bytes: 96 << 20,
        ..test_limits()
    };
    let r = run(request(&sb, json!({}), limits, 2, OnItemError::Skip)).await;
    let lines = manifest(&r, &sb);
    let summary = r.report.summary.clone().unwrap();
    assert_eq!((summary.total, summary.success, summary.error), (6, 3, 3));
    assert_eq!(summary.message.as_deref(), Some("6 items"));
    assert_eq!(status_line(&r), "Status : total:6, success:3, error:3");
    let messages = r.messages();
    for (item, kind) in [(1, "module-error"), (2, "trap"), (3, "memory-limit")] {
        let wanted = format!("item #{item} /collection/{item}.txt skipped ({kind}): ");
        assert!(
            messages.iter().any(|m| m.starts_with(&wanted)),
            "{wanted} not in {messages:#?}"
        );
    }
    assert_eq!(lines[0], "0 /collection/0.txt ok:4");
    assert!(
        lines[1].starts_with("1 /collection/1.txt err:module-error: invalid-data"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("2 /collection/2.txt err:trap: "),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("3 /collection/3.txt err:memory-limit: "),
        "{}",
        lines[3]
    );
    assert_eq!(
        &lines[4..],
        ["4 /collection/4.txt ok:4", "5 /collection/5.txt ok:4"]
    );
    assert_eq!(
        std::fs::read_to_string(sb.output().join("5.txt")).unwrap(),
        "FIVE"
    );
    // Each instance has the memory limit: the peak is at most one limit per worker.
    assert!(r.report.usage.peak_memory_bytes <= 2 * (96 << 20));
}

#[tokio::test]
async fn the_output_quota_is_shared_by_all_workers_and_counted_exactly() {
    let files: Vec<(String, String)> = (0..20)
        .map(|i| (format!("{i:02}.txt"), "x".repeat(1000)))
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();

    // 20,000 bytes in all, about 10,000 per worker: only a shared quota stops it at 15,000.
    let sb = sandbox(&files);
    let limits = Limits {
        max_output_bytes: 15_000,
        ..test_limits()
    };
    let r = run(request(&sb, json!({}), limits, 2, OnItemError::Skip)).await;
    assert_eq!(r.error_kind(), Some("output-limit"), "{:?}", r.report);
    assert!(r.report.usage.output_bytes <= 15_000);
    assert!(!sb.output().exists());

    let sb = sandbox(&files);
    let r = run(request(&sb, json!({}), test_limits(), 2, OnItemError::Fail)).await;
    let manifest_len = std::fs::metadata(sb.output().join("manifest.txt"))
        .unwrap()
        .len();
    manifest(&r, &sb);
    assert_eq!(r.report.usage.output_bytes, 20_000 + manifest_len);
    assert_eq!(r.report.usage.output_files, 21);
}

#[tokio::test]
async fn a_timeout_or_a_stop_ends_every_instance() {
    let spinning: Vec<(String, String)> = (0..6)
        .map(|i| (format!("{i}.txt"), "spin".into()))
        .collect();
    let spinning: Vec<(&str, &str)> = spinning
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();

    let sb = sandbox(&spinning);
    let limits = Limits {
        timeout: Duration::from_millis(600),
        ..test_limits()
    };
    // Skip would go on after a failed item; a timeout still ends the step.
    let r = run(request(&sb, json!({}), limits, 2, OnItemError::Skip)).await;
    assert_eq!(r.error_kind(), Some("timeout"), "{:?}", r.report.error);
    assert!(!sb.output().exists());

    let sb = sandbox(&spinning);
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
    });
    let req = request(&sb, json!({}), test_limits(), 2, OnItemError::Skip);
    let r = run_with_cancel(req, cancel).await;
    assert_eq!(r.error_kind(), Some("stopped"), "{:?}", r.report.error);
    assert!(!sb.output().exists());
    assert_host_still_works().await;
}

#[tokio::test]
async fn plan_and_finish_failures_are_named() {
    let sb = sandbox(&[("a.txt", "ok")]);
    for (root, wanted) in [
        ("/output", "must be /collection or /input"),
        ("/input", "this step has no input"),
        ("/collection/../output", "`..`"),
        ("/collection/missing", "/collection/missing"),
    ] {
        let params = json!({ "root": root });
        let r = run(request(&sb, params, test_limits(), 2, OnItemError::Fail)).await;
        assert_eq!(r.error_kind(), Some("module-error"), "{root}");
        let msg = r.error_message();
        assert!(
            msg.starts_with("in `plan`: ") && msg.contains(wanted),
            "{root}: {msg}"
        );
    }
    let r = run(request(
        &sb,
        json!({"finish_error": true}),
        test_limits(),
        2,
        OnItemError::Fail,
    ))
    .await;
    assert_eq!(r.error_kind(), Some("module-error"));
    assert_eq!(
        r.error_message(),
        "in `finish`: other: finish was told to fail"
    );
    assert!(!sb.output().exists());
}

#[tokio::test]
async fn modules_built_against_1_0_still_run_on_the_1_1_host() {
    let items = engine().load_file(artifacts::ITEMS.as_ref()).unwrap();
    assert_eq!(items.api().api_version.to_string(), "1.1.0");
    assert!(items.api().has_items && items.api().has_train);

    // serve_only is built against premod:premodule@1.0.0 (exports serve@1.0.0, imports
    // host@1.0.0): the 1.1.0 host finds its export and satisfies its import.
    let old = engine().load_file(artifacts::SERVE_ONLY.as_ref()).unwrap();
    assert_eq!(old.api().api_version.to_string(), "1.0.0");
    assert!(!old.api().has_items);
    let mut service = engine()
        .start_service(
            &old,
            None,
            Default::default(),
            test_limits(),
            std::sync::Arc::new(premod::steplog::NullObserver),
        )
        .await
        .unwrap();
    let out = service
        .transform(Batch::json(r#"[{"x":1}]"#), 0)
        .await
        .unwrap();
    assert_eq!(out.data, br#"[{"x":1}]"#);
}

/// The first-party image_resize module on a real (small) generated dataset: extracted by
/// image_classification, then resized per item on 2 instances and in one instance
/// (`process-for-train`): the same bytes, every image 224x224.
#[tokio::test]
async fn image_resize_per_item_matches_one_instance_on_a_real_dataset() {
    let sb = Sandbox::new();
    premod_datagen::write_dataset(
        &premod_datagen::Options::small(),
        &sb.collection().join("dataset.zip"),
    )
    .unwrap();
    let extract = run(sb.request(artifacts::IMAGE_CLASSIFICATION, json!({}), test_limits())).await;
    assert_eq!(
        extract.report.status, "completed",
        "{:?}",
        extract.report.error
    );

    let mut outputs = Vec::new();
    for (workers, whole) in [(2, false), (1, true)] {
        let out = sb.dir.path().join(format!("resized-{workers}-{whole}"));
        let mut req = sb.request(artifacts::IMAGE_RESIZE, json!({}), test_limits());
        req.input = Some(sb.output());
        req.output = out.clone();
        req.parallel = Parallel {
            workers,
            on_item_error: OnItemError::Fail,
            whole,
        };
        let r = run(req).await;
        assert_eq!(r.report.status, "completed", "{:?}", r.report.error);
        let summary = r.report.summary.clone().unwrap();
        assert_eq!((summary.total, summary.error), (24, 0));
        let mut files = Vec::new();
        for (rel, _) in tree_bytes(&out) {
            let img = image_size(&out.join(&rel));
            assert_eq!(img, (224, 224), "{rel}");
            files.push(rel);
        }
        assert_eq!(files.len(), 24);
        outputs.push(tree_bytes(&out));
    }
    assert_eq!(outputs[0], outputs[1]);
}

fn tree_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Width and height from a PNG's IHDR or a JPEG's SOF marker (no image crate in the host).
fn image_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    if b.starts_with(b"\x89PNG") {
        let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        return (be(16), be(20));
    }
    let mut i = 2;
    while i + 9 < b.len() {
        let (marker, len) = (b[i + 1], u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize);
        if (0xC0..=0xC3).contains(&marker) {
            let h = u16::from_be_bytes([b[i + 5], b[i + 6]]) as u32;
            let w = u16::from_be_bytes([b[i + 7], b[i + 8]]) as u32;
            return (w, h);
        }
        i += 2 + len;
    }
    panic!("{} is neither PNG nor JPEG", path.display())
}

/// The flags of `premod exec`: `--parallel`, `--on-item-error`, `--whole`, and bad values.
#[test]
fn exec_flags_choose_workers_policy_and_path() {
    let sb = sandbox(&[("a.txt", "ok"), ("b.txt", "fail")]);
    let exec = |out: &str, flags: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_premod"))
            .arg("--home")
            .arg(crate::support::test_home())
            .args(["exec", artifacts::ITEMS, "--json", "--collection"])
            .arg(sb.collection())
            .arg("--output")
            .arg(sb.dir.path().join(out))
            .args(flags)
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        (
            output.status.code(),
            json,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, json, stderr) = exec("skip", &["--parallel", "2", "--on-item-error", "skip"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json["summary"]["error"], 1);
    assert!(
        stderr.contains("2 items (every file under /collection), 2 workers, on item error: skip"),
        "{stderr}"
    );

    let (code, json, _) = exec("fail", &["--parallel", "1"]);
    assert_eq!(code, Some(1));
    assert_eq!(json["error"]["kind"], "module-error");

    // `--whole`: process-for-train in one instance, which stops at b.txt's error.
    let (code, json, stderr) = exec("whole", &["--whole"]);
    assert_eq!(code, Some(1));
    assert!(!stderr.contains("per-item step"), "{stderr}");
    assert_eq!(
        json["error"]["message"],
        "invalid-data: /collection/b.txt says fail"
    );

    let (code, _, stderr) = exec("bad", &["--on-item-error", "ignore"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("use `fail`"), "{stderr}");
    let (code, _, _) = exec("zero", &["--parallel", "0"]);
    assert_eq!(code, Some(2));
}
