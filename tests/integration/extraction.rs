//! The first-party image_classification module on real and hostile archives, run through the
//! real host exactly as `premod exec` runs it.

use crate::support::*;
use premod::limits::Limits;
use serde_json::json;
use std::io::{Read, Write};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use zipcraft::{Entry, FLAG_UTF8, ZipBuilder};

/// The module's own lines from the seed's log, with the guest paths premod mounts.
const SEED_LINES: &[&str] = &[
    "[hunmin log]  the start line of the function [exec_process]",
    "[hunmin log] pm.source_path : /collection",
    "[hunmin log] Files and directories in /collection :",
    "[hunmin log] dir_list : ['dataset.zip']",
    "[hunmin log] Files and directories in /output :",
    "[hunmin log] dir_list : ['dataset']",
    "[hunmin log]  the finish line of the function [exec_process]",
    "[hunmin log] the end line of the function [process_for_train]",
];

/// Puts `zip` in a fresh collection as dataset.zip and runs the module on it, twice: with the
/// host's native extraction (`premod:native/zip`, the default) and with it turned off (the
/// module extracts in the sandbox). Both must end the same way, with the same output and the
/// same error text; the native run is returned. The output target already holds a file: a
/// failed run must leave it exactly as it was.
async fn extract(zip: &[u8], params: serde_json::Value) -> (Run, Sandbox) {
    extract_with(zip, params, test_limits()).await
}

async fn extract_with(zip: &[u8], params: serde_json::Value, limits: Limits) -> (Run, Sandbox) {
    let (native, native_sb) = extract_on(engine(), zip, params.clone(), limits.clone()).await;
    let (in_module, module_sb) = extract_on(engine_without_native(), zip, params, limits).await;
    assert_eq!(native.report.status, in_module.report.status);
    assert_eq!(native.error_kind(), in_module.error_kind());
    // Over the output quota, the bytes requested depend on how each side buffers its writes.
    let comparable = |run: &Run| {
        let msg = run.error_message();
        match run.error_kind() {
            Some("output-limit") => msg.split(" (").next().unwrap_or_default().to_string(),
            _ => msg,
        }
    };
    assert_eq!(comparable(&native), comparable(&in_module));
    assert_eq!(native_sb.snapshot(), module_sb.snapshot());
    let said = |run: &Run, text: &str| run.messages().iter().any(|m| m.contains(text));
    if !in_module.error_message().starts_with("invalid-params") {
        assert!(
            said(&in_module, "extraction: in the module"),
            "{:?}",
            in_module.messages()
        );
    }
    assert!(!said(&native, "extraction: in the module"));
    if native.report.error.is_none() {
        assert!(said(&native, "premod:native/zip extracted"));
    }
    (native, native_sb)
}

async fn extract_on(
    engine: &premod::engine::Engine,
    zip: &[u8],
    params: serde_json::Value,
    limits: Limits,
) -> (Run, Sandbox) {
    let sb = Sandbox::new();
    std::fs::remove_file(sb.collection().join(COLLECTION_FILE)).unwrap();
    std::fs::write(sb.collection().join("dataset.zip"), zip).unwrap();
    std::fs::create_dir(sb.output()).unwrap();
    std::fs::write(sb.output().join("previous.txt"), "previous\n").unwrap();
    let before = sb.snapshot();
    let mut req = sb.request(artifacts::IMAGE_CLASSIFICATION, params, limits);
    req.replace = true;
    let run = run_on(engine, req, CancellationToken::new()).await;
    if run.report.error.is_some() {
        assert_eq!(
            sb.snapshot(),
            before,
            "a failed extraction changed the folders"
        );
    }
    (run, sb)
}

async fn rejected(zip: &[u8], needle: &str) -> String {
    let (run, _sb) = extract(zip, json!({})).await;
    assert_eq!(run.error_kind(), Some("module-error"), "{:?}", run.report);
    let msg = run.error_message();
    assert!(msg.starts_with("invalid-data: "), "{msg}");
    assert!(msg.contains(needle), "expected {needle:?} in: {msg}");
    msg
}

#[tokio::test]
async fn a_generated_dataset_extracts_byte_for_byte_with_the_seed_log() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("dataset.zip");
    premod_datagen::write_dataset(&premod_datagen::Options::small(), &zip_path).unwrap();
    let zip = std::fs::read(&zip_path).unwrap();
    let (run, sb) = extract(&zip, json!({})).await;
    assert_eq!(run.report.status, "completed", "{:?}", run.report.error);

    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&zip)).unwrap();
    let mut files = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let path = sb.output().join(entry.name().unwrap().as_ref());
        if entry.is_dir() {
            assert!(path.is_dir(), "{}", path.display());
            continue;
        }
        let mut want = Vec::new();
        entry.read_to_end(&mut want).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), want, "{}", path.display());
        files += 1;
    }
    assert!(files > 10);
    let names: Vec<_> = std::fs::read_dir(sb.output())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["dataset"]);

    let messages = run.messages();
    assert_eq!(messages[0], "### preprocessing start ###");
    assert!(messages[1].starts_with("params={\"rule\":{\"source_column\":[\"dataset\"]"));
    assert!(messages[1].contains("\"module_info\":{\"module_name\":\"image_classification\""));
    let module_lines: Vec<&str> = messages
        .iter()
        .filter(|m| m.starts_with("[hunmin log]"))
        .map(|m| m.as_str())
        .collect();
    assert_eq!(module_lines, SEED_LINES);
    let n = messages.len();
    assert_eq!(messages[n - 2], "### preprocessing finished ###");
    assert_eq!(messages[n - 1], "Status : total:1, success:1, error:0");
    let summary = run.report.summary.clone().unwrap();
    assert_eq!((summary.total, summary.success, summary.error), (1, 1, 0));
    assert!(!run.log.progress_events().is_empty());
}

fn one(entry: Entry) -> Vec<u8> {
    ZipBuilder::new()
        .entry(Entry::file(b"dataset/ok.txt".to_vec(), b"ok".to_vec()))
        .entry(entry)
        .build()
}

#[tokio::test]
async fn absolute_paths_are_rejected() {
    rejected(
        &one(Entry::file(b"/etc/cron.d/evil".to_vec(), b"x".to_vec())),
        "/etc/cron.d/evil",
    )
    .await;
    rejected(
        &one(Entry::file(b"\\windows\\evil".to_vec(), b"x".to_vec())),
        "evil",
    )
    .await;
}

#[tokio::test]
async fn parent_components_are_rejected() {
    rejected(
        &one(Entry::file(
            b"dataset/../../escape.txt".to_vec(),
            b"x".to_vec(),
        )),
        "escape.txt",
    )
    .await;
}

#[tokio::test]
async fn drive_letters_are_rejected() {
    rejected(
        &one(Entry::file(b"C:/evil.txt".to_vec(), b"x".to_vec())),
        "drive letter",
    )
    .await;
}

#[tokio::test]
async fn symlink_entries_are_rejected() {
    rejected(
        &one(Entry::symlink(
            b"dataset/link".to_vec(),
            b"/etc/passwd".to_vec(),
        )),
        "dataset/link",
    )
    .await;
}

#[tokio::test]
async fn duplicate_names_are_rejected() {
    let zip = ZipBuilder::new()
        .entry(Entry::file(b"dataset/a.png".to_vec(), b"first".to_vec()))
        .entry(Entry::file(b"dataset/a.png".to_vec(), b"second".to_vec()))
        .build();
    let msg = rejected(&zip, "dataset/a.png").await;
    assert!(msg.contains("duplicate"), "{msg}");
}

#[tokio::test]
async fn encrypted_entries_are_rejected() {
    rejected(
        &one(Entry::file(b"dataset/secret.png".to_vec(), b"x".to_vec()).encrypted()),
        "encrypted",
    )
    .await;
}

#[tokio::test]
async fn a_zip_bomb_with_a_lying_header_is_stopped() {
    let big = vec![0u8; 32 << 20];
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&big).unwrap();
    let deflated = enc.finish().unwrap();
    let bomb = Entry::file(b"dataset/bomb.bin".to_vec(), big)
        .deflated(deflated)
        .declared_size(1024);
    let (run, _sb) = extract(&one(bomb), json!({})).await;
    assert_eq!(run.error_kind(), Some("module-error"), "{:?}", run.report);
    assert!(
        run.error_message().contains("dataset/bomb.bin"),
        "{}",
        run.error_message()
    );
}

#[tokio::test]
async fn size_and_count_caps_hold_and_params_raise_them() {
    let entries: Vec<Entry> = (0..5)
        .map(|i| Entry::file(format!("dataset/{i}.bin").into_bytes(), vec![7u8; 1000]))
        .collect();
    let zip = ZipBuilder::new().entries(entries).build();

    let (run, _) = extract(&zip, json!({"max_entries": 3})).await;
    assert_eq!(run.error_kind(), Some("module-error"));
    assert!(
        run.error_message().contains("max_entries"),
        "{}",
        run.error_message()
    );

    let (run, _) = extract(&zip, json!({"max_total_bytes": 4000})).await;
    assert_eq!(run.error_kind(), Some("module-error"));
    assert!(
        run.error_message().contains("max_total_bytes"),
        "{}",
        run.error_message()
    );

    let (run, sb) = extract(&zip, json!({"max_entries": 10, "max_total_bytes": 10_000})).await;
    assert_eq!(run.report.status, "completed", "{:?}", run.report.error);
    assert_eq!(
        std::fs::read_dir(sb.output().join("dataset"))
            .unwrap()
            .count(),
        5
    );
}

#[tokio::test]
async fn unknown_params_are_named() {
    let zip = ZipBuilder::new()
        .entry(Entry::file(b"dataset/a.txt".to_vec(), b"a".to_vec()))
        .build();
    let (run, _) = extract(&zip, json!({"max_entrys": 3})).await;
    assert_eq!(run.error_kind(), Some("module-error"));
    let msg = run.error_message();
    assert!(msg.starts_with("invalid-params"), "{msg}");
    assert!(msg.contains("max_entrys"), "{msg}");
}

#[tokio::test]
async fn korean_windows_names_extract_with_the_right_korean() {
    // "고양이/사진1.png" in CP949, as Korean Windows writes it: no UTF-8 flag.
    let cp949 = b"dataset/\xb0\xed\xbe\xe7\xc0\xcc/\xbb\xe7\xc1\xf81.png".to_vec();
    let utf8 = "dataset/강아지/사진2.png".as_bytes().to_vec();
    let zip = ZipBuilder::new()
        .entry(Entry::file(cp949, b"cat".to_vec()))
        .entry(Entry::file(utf8, b"dog".to_vec()).flags(FLAG_UTF8))
        .build();
    let (run, sb) = extract(&zip, json!({})).await;
    assert_eq!(run.report.status, "completed", "{:?}", run.report.error);
    let cat = sb.output().join("dataset").join("고양이").join("사진1.png");
    let dog = sb.output().join("dataset").join("강아지").join("사진2.png");
    assert_eq!(std::fs::read(cat).unwrap(), b"cat");
    assert_eq!(std::fs::read(dog).unwrap(), b"dog");
}

#[tokio::test]
async fn a_missing_archive_says_what_was_expected() {
    let sb = Sandbox::new();
    let run = run(sb.request(artifacts::IMAGE_CLASSIFICATION, json!({}), test_limits())).await;
    assert_eq!(run.error_kind(), Some("module-error"));
    let msg = run.error_message();
    assert!(
        msg.contains("dataset.zip") && msg.contains(COLLECTION_FILE),
        "{msg}"
    );
}

#[tokio::test]
async fn the_output_limits_hold_whichever_side_extracts() {
    let zip = ZipBuilder::new()
        .entry(Entry::file(b"dataset/a.bin".to_vec(), vec![1u8; 100_000]))
        .entry(Entry::file(b"dataset/b.bin".to_vec(), vec![2u8; 100_000]))
        .entry(Entry::file(b"dataset/c.bin".to_vec(), vec![3u8; 100_000]))
        .build();
    let bytes = Limits {
        max_output_bytes: 150_000,
        ..test_limits()
    };
    let (run, _) = extract_with(&zip, json!({}), bytes).await;
    assert_eq!(run.error_kind(), Some("output-limit"), "{:?}", run.report);
    assert!(
        run.error_message().contains("150000"),
        "{}",
        run.error_message()
    );

    // dataset/ and two files fit; the third file does not.
    let files = Limits {
        max_output_files: 3,
        ..test_limits()
    };
    let (run, _) = extract_with(&zip, json!({}), files).await;
    assert_eq!(run.error_kind(), Some("output-limit"), "{:?}", run.report);
    assert!(
        run.error_message().contains("files"),
        "{}",
        run.error_message()
    );
}

/// Enough small entries that extracting them takes well over the limits below on any machine.
fn many_entries() -> Vec<u8> {
    let entries = (0..40_000).map(|i| Entry::file(format!("dataset/{i}.txt"), b"x".to_vec()));
    ZipBuilder::new().entries(entries).build()
}

#[tokio::test]
async fn a_host_native_extraction_ends_at_the_time_limit_and_on_stop() {
    let zip = many_entries();
    let limits = Limits {
        timeout: Duration::from_millis(300),
        max_output_files: 100_000,
        ..test_limits()
    };
    let params = json!({"max_entries": 100_000});
    let (run, _) = extract_on(engine(), &zip, params.clone(), limits).await;
    assert_eq!(run.error_kind(), Some("timeout"), "{:?}", run.report);

    let sb = Sandbox::new();
    std::fs::write(sb.collection().join("dataset.zip"), &zip).unwrap();
    let limits = Limits {
        max_output_files: 100_000,
        ..test_limits()
    };
    let req = sb.request(artifacts::IMAGE_CLASSIFICATION, params, limits);
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stopper.cancel();
    });
    let run = run_on(engine(), req, cancel).await;
    assert_eq!(run.error_kind(), Some("stopped"), "{:?}", run.report);
    assert!(!sb.output().exists(), "a stopped step leaves no output");
}

#[tokio::test]
async fn an_archive_behind_a_symbolic_link_is_refused_both_ways() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.zip");
    std::fs::write(
        &secret,
        one(Entry::file(b"dataset/s.txt".to_vec(), b"s".to_vec())),
    )
    .unwrap();
    for engine in [engine(), engine_without_native()] {
        let sb = Sandbox::new();
        std::os::unix::fs::symlink(&secret, sb.collection().join("dataset.zip")).unwrap();
        let run = run_on(
            engine,
            sb.request(artifacts::IMAGE_CLASSIFICATION, json!({}), test_limits()),
            CancellationToken::new(),
        )
        .await;
        assert_eq!(run.error_kind(), Some("module-error"), "{:?}", run.report);
        assert!(!sb.output().exists());
    }
}

#[tokio::test]
async fn a_module_can_not_point_the_native_extraction_outside_its_mounts() {
    let collection_file = format!("/collection/{COLLECTION_FILE}");
    for (archive, destination, why) in [
        ("/collection/../../etc/passwd", "/output", "`..`"),
        ("/etc/passwd", "/output", "is not under /collection"),
        ("/output/x.zip", "/output", "is not under /collection"),
        (
            collection_file.as_str(),
            "/collection",
            "is not under /output",
        ),
        (collection_file.as_str(), "/output/../collection", "`..`"),
        (collection_file.as_str(), "/meta", "is not under /output"),
    ] {
        let run = hostile(
            "native_zip",
            json!({"archive": archive, "destination": destination}),
            test_limits(),
        )
        .await;
        let msg = run.error_message();
        assert!(
            msg.contains("InvalidPath") && msg.contains(why),
            "{archive} -> {destination}: {msg}"
        );
    }
    // A real archive that is not a ZIP gets through the path checks and is refused as data.
    let run = hostile(
        "native_zip",
        json!({"archive": collection_file, "destination": "/output"}),
        test_limits(),
    )
    .await;
    assert!(
        run.error_message().contains("InvalidData"),
        "{}",
        run.error_message()
    );
}
