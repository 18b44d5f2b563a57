//! Every way a module file can be wrong has its own clear `invalid-module` message, found
//! before anything runs.

use crate::support::*;
use premod::error::ErrorKind;
use serde_json::json;

fn load_err(bytes: &[u8]) -> premod::error::StepError {
    match engine().load(bytes) {
        Ok(_) => panic!("expected the module to be rejected"),
        Err(e) => e,
    }
}

fn load_file_err(path: &str) -> premod::error::StepError {
    match engine().load_file(path.as_ref()) {
        Ok(_) => panic!("expected {path} to be rejected"),
        Err(e) => e,
    }
}

#[test]
fn not_wasm() {
    let e = load_err(b"def process_for_train(pm):\n    pass\n");
    assert_eq!(e.kind, ErrorKind::InvalidModule);
    assert!(e.message.contains("not a WebAssembly file"), "{e}");
    assert!(
        e.message.contains("wasm32-wasip2"),
        "says how to fix it: {e}"
    );
}

#[test]
fn a_core_module_instead_of_a_component() {
    let core = wat_core();
    let e = load_err(&core);
    assert!(e.message.contains("core WebAssembly module"), "{e}");
}

fn wat_core() -> Vec<u8> {
    // The binary form of `(module)`: magic and version 1.
    b"\0asm\x01\0\0\0".to_vec()
}

#[test]
fn a_component_of_another_world() {
    let e = load_file_err(artifacts::COMMAND);
    assert_eq!(e.kind, ErrorKind::InvalidModule);
    assert!(e.message.contains("wasi:cli/run"), "{e}");
    assert!(e.message.contains("not a premodule"), "{e}");

    let empty = load_err(b"(component)");
    assert!(empty.message.contains("exports nothing"), "{empty}");
}

#[test]
fn an_incompatible_major_version() {
    let e = load_file_err(artifacts::FUTURE_MAJOR);
    assert!(e.message.contains("premod:premodule@2.0.0"), "{e}");
    assert!(e.message.contains("1.x"), "{e}");
}

#[tokio::test]
async fn a_missing_export_is_named_when_running() {
    let module = engine().load_file(artifacts::SERVE_ONLY.as_ref()).unwrap();
    assert!(module.api().has_serve && !module.api().has_train);
    let sb = Sandbox::new();
    let run = run(sb.request(artifacts::SERVE_ONLY, json!({}), test_limits())).await;
    assert_eq!(run.error_kind(), Some("invalid-module"));
    assert!(
        run.error_message()
            .contains("does not export premod:premodule/train@1.0.0"),
        "{}",
        run.error_message()
    );
    assert!(!sb.output().exists());
}

#[tokio::test]
async fn sockets_load_but_every_connection_is_denied() {
    // Python modules always import wasi:sockets, so the imports link; using them fails.
    let sb = Sandbox::new();
    let run = run(sb.request(artifacts::NETWORKED, json!({}), test_limits())).await;
    assert_eq!(run.error_kind(), Some("module-error"), "{:?}", run.report);
    let msg = run.error_message().to_lowercase();
    assert!(
        msg.contains("denied") || msg.contains("permission") || msg.contains("not permitted"),
        "{msg}"
    );
    assert_host_still_works().await;
}

#[test]
fn http_imports_are_not_granted() {
    let wat = r#"
        (component
          (import "wasi:http/outgoing-handler@0.2.6" (instance))
          (core module $m (func (export "f")))
          (core instance $i (instantiate $m))
          (func $f (canon lift (core func $i "f")))
          (instance $train (export "process-for-train" (func $f)))
          (export "premod:premodule/train@1.0.0" (instance $train))
        )
    "#;
    let e = load_err(wat.as_bytes());
    assert!(
        e.message.contains("wasi:http/outgoing-handler@0.2.6"),
        "{e}"
    );
    assert!(e.message.contains("no network access"), "{e}");
}

#[tokio::test]
async fn an_export_with_the_wrong_signature() {
    // Exports train@1.0.0 whose process-for-train takes no arguments.
    let wat = r#"
        (component
          (core module $m (func (export "f")))
          (core instance $i (instantiate $m))
          (func $f (canon lift (core func $i "f")))
          (instance $train (export "process-for-train" (func $f)))
          (export "premod:premodule/train@1.0.0" (instance $train))
        )
    "#;
    let sb = Sandbox::new();
    let module = sb.dir.path().join("wrong.wat");
    std::fs::write(&module, wat).unwrap();
    let run = run(sb.request(module.to_str().unwrap(), json!({}), test_limits())).await;
    assert_eq!(run.error_kind(), Some("invalid-module"), "{:?}", run.report);
    assert!(
        run.error_message().contains("does not match"),
        "{}",
        run.error_message()
    );
    assert!(!sb.output().exists());
}

#[test]
fn a_good_module_reports_its_api() {
    let module = engine()
        .load_file(artifacts::IMAGE_CLASSIFICATION.as_ref())
        .unwrap();
    let api = module.api();
    // First-party modules build with premod-sdk, which targets the released 1.0.0 (its own
    // copy of wit/since_v1.0.0) so that they run on every 1.x host, this one included.
    assert_eq!(api.api_version.to_string(), "1.0.0");
    let host = semver::Version::parse(premod::engine::API_VERSION).unwrap();
    assert!(api.api_version.major == host.major && api.api_version <= host);
    assert!(api.has_train && api.has_serve);
    assert!(
        api.imports
            .iter()
            .any(|i| i.starts_with("premod:premodule/host@"))
    );
    assert!(module.digest().starts_with("sha256:"));
}
