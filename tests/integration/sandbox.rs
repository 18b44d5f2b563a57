//! Hostile and buggy modules: each must end with the exact error kind and a clear message,
//! leave the collection and the previous output untouched, and leave the host working.

use crate::support::*;
use premod::limits::Limits;
use serde_json::json;
use std::time::Duration;

fn limits(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = test_limits();
    f(&mut l);
    l
}

#[tokio::test]
async fn a_good_module_completes_and_its_output_replaces_the_old() {
    let run = hostile("ok", json!({}), test_limits()).await;
    assert_eq!(run.report.status, "completed", "{:?}", run.report.error);
    let out = run.report.output.clone().unwrap();
    assert_eq!(std::fs::read_to_string(out.join("ok.txt")).unwrap(), "ok\n");
    assert!(!out.join("previous.txt").exists());
    assert_eq!(run.report.usage.output_files, 1);
    assert_eq!(run.report.usage.output_bytes, 3);
}

#[tokio::test]
async fn writing_to_the_collection_is_refused() {
    let run = hostile("write_collection", json!({}), test_limits()).await;
    assert_eq!(run.error_kind(), Some("module-error"));
    let msg = run.error_message().to_lowercase();
    for what in ["create", "rename", "remove", "append"] {
        assert!(msg.contains(what), "{msg}");
    }
    assert_eq!(msg.matches("not permitted").count(), 4, "{msg}");
}

#[tokio::test]
async fn reading_outside_the_sandbox_finds_nothing() {
    let run = hostile("read_outside", json!({}), test_limits()).await;
    assert_eq!(run.error_kind(), Some("module-error"), "{:?}", run.report);
    assert!(!run.error_message().contains("LEAK"));
}

#[tokio::test]
async fn a_busy_loop_times_out() {
    let run = hostile(
        "loop_forever",
        json!({}),
        limits(|l| l.timeout = Duration::from_millis(500)),
    )
    .await;
    assert_eq!(run.error_kind(), Some("timeout"));
    assert!(
        run.error_message().contains("--timeout"),
        "{}",
        run.error_message()
    );
}

#[tokio::test]
async fn a_guest_blocked_in_wasi_sleep_times_out() {
    let run = hostile(
        "sleep_forever",
        json!({}),
        limits(|l| l.timeout = Duration::from_millis(500)),
    )
    .await;
    assert_eq!(run.error_kind(), Some("timeout"));
}

#[tokio::test]
async fn unbounded_allocation_hits_the_memory_limit() {
    let run = hostile(
        "alloc_unbounded",
        json!({}),
        limits(|l| l.memory_bytes = 64 << 20),
    )
    .await;
    assert_eq!(
        run.error_kind(),
        Some("memory-limit"),
        "{:?}",
        run.report.error
    );
    assert!(run.error_message().contains("--memory"));
    let peak = run.report.usage.peak_memory_bytes;
    assert!(peak <= 64 << 20 && peak > 16 << 20, "peak {peak}");
}

#[tokio::test]
async fn unbounded_recursion_is_a_stack_overflow_trap() {
    let run = hostile("recurse_unbounded", json!({}), test_limits()).await;
    assert_eq!(run.error_kind(), Some("trap"));
    assert!(
        run.error_message().contains("stack overflow"),
        "{}",
        run.error_message()
    );
}

#[tokio::test]
async fn writing_past_the_output_quota_is_stopped_while_writing() {
    let run = hostile(
        "write_past_quota",
        json!({"bytes": 64u64 << 20}),
        limits(|l| l.max_output_bytes = 8 << 20),
    )
    .await;
    assert_eq!(run.error_kind(), Some("output-limit"));
    assert!(run.error_message().contains("--max-output"));
    assert!(run.report.usage.output_bytes <= 8 << 20);
}

#[tokio::test]
async fn a_sparse_write_far_past_the_end_counts_against_the_quota() {
    let run = hostile(
        "write_at_offset",
        json!({"offset": 1u64 << 40}),
        limits(|l| l.max_output_bytes = 8 << 20),
    )
    .await;
    assert_eq!(
        run.error_kind(),
        Some("output-limit"),
        "{:?}",
        run.report.error
    );
}

#[tokio::test]
async fn growing_a_file_with_set_size_counts_against_the_quota() {
    let run = hostile(
        "set_size",
        json!({"bytes": 1u64 << 40}),
        limits(|l| l.max_output_bytes = 8 << 20),
    )
    .await;
    assert_eq!(
        run.error_kind(),
        Some("output-limit"),
        "{:?}",
        run.report.error
    );
}

#[tokio::test]
async fn creating_millions_of_files_hits_the_file_limit() {
    let run = hostile(
        "many_files",
        json!({"count": 2_000_000}),
        limits(|l| l.max_output_files = 500),
    )
    .await;
    assert_eq!(run.error_kind(), Some("output-limit"));
    assert!(run.error_message().contains("--max-files"));
    assert_eq!(run.report.usage.output_files, 500);

    let dirs = hostile(
        "many_files",
        json!({"count": 2_000_000, "dirs": true}),
        limits(|l| l.max_output_files = 500),
    )
    .await;
    assert_eq!(dirs.error_kind(), Some("output-limit"));
}

#[tokio::test]
async fn a_chatty_module_is_truncated_not_failed() {
    let run = hostile(
        "flood_stdout",
        json!({"bytes": 8u64 << 20, "log_lines": 20_000}),
        limits(|l| l.max_log_bytes = 256 << 10),
    )
    .await;
    assert_eq!(run.report.status, "completed", "{:?}", run.report.error);
    let markers = run
        .messages()
        .iter()
        .filter(|m| m.contains("log truncated"))
        .count();
    assert_eq!(markers, 1);
    assert!(run.report.usage.log_lines_dropped > 0);
    assert!(run.report.usage.log_bytes <= 256 << 10);
    let last = run.messages().last().cloned().unwrap();
    assert_eq!(
        last, "Status : total:1, success:1, error:0",
        "host lines are never dropped"
    );
}

#[tokio::test]
async fn symlinks_cannot_be_created() {
    let run = hostile("symlink_escape", json!({}), test_limits()).await;
    assert_eq!(run.error_kind(), Some("module-error"), "{:?}", run.report);
    let msg = run.error_message().to_lowercase();
    assert_eq!(msg.matches("not permitted").count(), 2, "{msg}");
}

#[tokio::test]
async fn hard_links_cannot_be_created() {
    let run = hostile("hardlink_collection", json!({}), test_limits()).await;
    assert_eq!(run.error_kind(), Some("module-error"), "{:?}", run.report);
    let msg = run.error_message().to_lowercase();
    assert_eq!(msg.matches("not permitted").count(), 3, "{msg}");
}

#[tokio::test]
async fn a_trap_is_reported_as_trap() {
    let run = hostile("trap", json!({}), test_limits()).await;
    assert_eq!(run.error_kind(), Some("trap"));
    assert!(
        run.error_message().contains("unreachable"),
        "{}",
        run.error_message()
    );
}

#[tokio::test]
async fn a_panic_is_a_trap_and_its_message_reaches_the_log() {
    let run = hostile("panic", json!({}), test_limits()).await;
    assert_eq!(run.error_kind(), Some("trap"));
    assert!(
        run.messages()
            .iter()
            .any(|m| m.contains("hostile module panicked on purpose")),
        "{:#?}",
        run.messages()
    );
}

#[tokio::test]
async fn a_typed_error_is_a_module_error_with_its_variant() {
    let run = hostile("typed_error", json!({}), test_limits()).await;
    assert_eq!(run.error_kind(), Some("module-error"));
    assert_eq!(
        run.error_message(),
        "invalid-params: threshold must be between 0 and 1, got 7"
    );
}

#[tokio::test]
async fn calling_exit_is_a_trap_that_says_so() {
    let run = hostile("exit", json!({}), test_limits()).await;
    assert_eq!(run.error_kind(), Some("trap"));
    // WASI 0.2's exit carries only success or failure, so the status is 1.
    assert!(
        run.error_message().contains("exited (status 1)"),
        "{}",
        run.error_message()
    );
}

#[tokio::test]
async fn a_failure_after_writing_leaves_the_old_output() {
    let run = hostile("write_then_fail", json!({}), test_limits()).await;
    assert_eq!(run.error_kind(), Some("module-error"));
    // `hostile` already compared the folders; say it once more for the reader.
    assert!(run.report.output.is_none());
}

#[tokio::test]
async fn unknown_actions_are_invalid_params() {
    let run = hostile("no_such_action", json!({}), test_limits()).await;
    assert_eq!(run.error_kind(), Some("module-error"));
    assert!(run.error_message().starts_with("invalid-params"));
}

#[tokio::test]
async fn progress_reaches_the_observer() {
    let run = hostile("progress", json!({}), test_limits()).await;
    assert_eq!(run.report.status, "completed");
    let events = run.log.progress_events();
    assert_eq!(events.first(), Some(&(0, 10)));
    assert_eq!(events.last(), Some(&(10, 10)));
}

#[tokio::test]
async fn the_guest_sees_only_its_mounts_and_no_environment() {
    let sb = Sandbox::new();
    let mut req = sb.request(
        artifacts::HOSTILE,
        json!({"action": "echo_context"}),
        test_limits(),
    );
    req.meta = Some(sb.meta());
    let run = run(req).await;
    assert_eq!(run.report.status, "completed", "{:?}", run.report.error);
    let out = sb.output();
    let ctx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("context.json")).unwrap()).unwrap();
    let text = ctx.to_string();
    for path in ["/collection", "/output", "/meta"] {
        assert!(text.contains(path), "{text}");
    }
    assert!(
        !text.contains("/input"),
        "no /input for a first step: {text}"
    );
    let env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("env.json")).unwrap()).unwrap();
    let vars = env["vars"].as_array().map(|a| a.len()).unwrap_or(0)
        + env["vars"].as_object().map(|o| o.len()).unwrap_or(0);
    assert_eq!(vars, 0, "the host environment leaked: {env}");
    let host_home = std::env::var("HOME").unwrap_or_default();
    let root = std::fs::read_to_string(out.join("root.json")).unwrap();
    assert!(host_home.is_empty() || !root.contains(&host_home), "{root}");
}

#[tokio::test]
async fn stop_interrupts_a_busy_guest_and_a_blocked_one() {
    for action in ["loop_forever", "sleep_forever"] {
        let sb = Sandbox::new();
        let req = sb.request(artifacts::HOSTILE, json!({"action": action}), test_limits());
        let cancel = tokio_util::sync::CancellationToken::new();
        let stopper = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            stopper.cancel();
        });
        let run = run_with_cancel(req, cancel).await;
        assert_eq!(run.error_kind(), Some("stopped"), "{action}");
        assert!(!sb.output().exists(), "{action}: no output after a stop");
        let leftovers: Vec<_> = std::fs::read_dir(sb.dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "{action}: only the collection remains");
    }
    assert_host_still_works().await;
}

#[tokio::test]
async fn fitted_state_flows_from_training_to_transform() {
    let sb = Sandbox::new();
    let mut req = sb.request(
        artifacts::HOSTILE,
        json!({"action": "meta_roundtrip"}),
        test_limits(),
    );
    req.meta = Some(sb.meta());
    let run = run(req).await;
    assert_eq!(run.report.status, "completed", "{:?}", run.report.error);
    assert!(sb.meta().join("state.json").exists());

    let module = engine().load_file(artifacts::HOSTILE.as_ref()).unwrap();
    let mut service = engine()
        .start_service(
            &module,
            Some(&sb.meta()),
            Default::default(),
            test_limits(),
            std::sync::Arc::new(premod::steplog::NullObserver),
        )
        .await
        .unwrap();
    for id in 0..3 {
        let out = service
            .transform(premod::step::Batch::json(r#"[{"x": 3.5}, {"x": 2.5}]"#), id)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.data).unwrap();
        assert_eq!(v, json!([{"x": 1.0}, {"x": 0.0}]));
    }
}

#[tokio::test]
async fn a_transform_call_that_hangs_times_out_and_the_instance_is_retired() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.meta()).unwrap();
    std::fs::write(sb.meta().join("state.json"), r#"{"mean": 0.0}"#).unwrap();
    let module = engine().load_file(artifacts::HOSTILE.as_ref()).unwrap();
    let mut lim = test_limits();
    lim.timeout = Duration::from_millis(300);
    let mut service = engine()
        .start_service(
            &module,
            Some(&sb.meta()),
            Default::default(),
            lim,
            std::sync::Arc::new(premod::steplog::NullObserver),
        )
        .await
        .unwrap();
    let ok = service
        .transform(premod::step::Batch::json(r#"[{"x": 1}]"#), 0)
        .await;
    assert!(ok.is_ok(), "{ok:?}");
    let hang = premod::step::Batch {
        content_type: "application/x-hostile-loop".into(),
        data: b"[]".to_vec(),
    };
    let err = service.transform(hang, 1).await.unwrap_err();
    assert_eq!(err.kind.as_str(), "timeout");
    let after = service
        .transform(premod::step::Batch::json(r#"[{"x": 1}]"#), 2)
        .await
        .unwrap_err();
    assert!(after.message.contains("cannot be reused"), "{after}");
}
