//! `process-for-train` without the bindings: the platform's reference flow and its log.

use std::fs;
use std::io;
use std::path::Path;

use premod_sdk::native::{self, ZipNames, ZipOptions};
use premod_sdk::{Error, Result, Summary, TrainContext, debug, dir_list, info, progress};
use premod_unzip::{self as extract, ExtractError, NameEncoding, Options, Stats};

use crate::params::Params;

fn module_error(e: ExtractError) -> Error {
    match e {
        ExtractError::InvalidData(m) => Error::InvalidData(m),
        ExtractError::Io(m) | ExtractError::Aborted(m) => Error::Io(m),
    }
}

const LOG_PREFIX: &str = "[hunmin log]";

/// Unzips `<collection>/<archive>` into `output`, logging exactly what the platform's
/// reference module logs.
pub fn process_for_train(ctx: &TrainContext) -> Result<Summary> {
    let (collection, output) = (ctx.paths.collection.as_str(), ctx.paths.output.as_str());
    let params = Params::parse(&ctx.rule.params).map_err(Error::InvalidParams)?;

    info!("{LOG_PREFIX}  the start line of the function [exec_process]");
    info!("{LOG_PREFIX} pm.source_path : {collection}");
    let listing = dir_list(collection)?;
    info!("{LOG_PREFIX} Files and directories in {collection} :");
    info!("{LOG_PREFIX} dir_list : {listing}");

    let archive = Path::new(collection).join(&params.archive);
    match fs::metadata(&archive) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => {
            return Err(Error::InvalidData(format!(
                "{} is not a file; set the `archive` param to the ZIP file to extract \
                 ({collection} holds {})",
                archive.display(),
                listing
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::InvalidData(format!(
                "expected the archive {} but it does not exist; {collection} holds {} \
                 (set the `archive` param to pick another file)",
                archive.display(),
                listing
            )));
        }
        Err(e) => {
            return Err(Error::Io(format!(
                "cannot inspect {}: {e}",
                archive.display()
            )));
        }
    }

    let opts = Options {
        max_total_bytes: params.max_total_bytes,
        max_entries: params.max_entries,
        name_encoding: params.name_encoding,
        // A premodule has one thread; the host's native path uses its own count.
        threads: 1,
    };
    let stats = extract_archive(&archive, output, &opts)?;

    let listing = dir_list(output)?;
    info!("{LOG_PREFIX} Files and directories in {output} :");
    info!("{LOG_PREFIX} dir_list : {listing}");
    info!("{LOG_PREFIX}  the finish line of the function [exec_process]");
    info!("{LOG_PREFIX} the end line of the function [process_for_train]");

    Ok(Summary {
        total: 1,
        success: 1,
        error: 0,
        message: Some(format!(
            "extracted {} file{} ({}) from {}",
            stats.files,
            if stats.files == 1 { "" } else { "s" },
            human_bytes(stats.bytes),
            params.archive
        )),
    })
}

/// Extracts with the host's `premod:native/zip` when it is offered (the same extractor, at
/// native speed, under the step's limits), else in the sandbox. The log says which ran.
fn extract_archive(archive: &Path, output: &str, opts: &Options) -> Result<Stats> {
    let native_opts = ZipOptions {
        max_total_bytes: opts.max_total_bytes,
        max_entries: opts.max_entries,
        names: match opts.name_encoding {
            NameEncoding::Auto => ZipNames::Auto,
            NameEncoding::Utf8 => ZipNames::Utf8,
            NameEncoding::Cp949 => ZipNames::Cp949,
            NameEncoding::Cp437 => ZipNames::Cp437,
        },
    };
    let archive_path = archive.to_string_lossy();
    if let Some(s) = native::extract_zip(&archive_path, output, &native_opts)? {
        debug!("extraction: by the host (premod:native/zip)");
        return Ok(Stats {
            entries: s.entries,
            files: s.files,
            dirs: s.dirs,
            bytes: s.bytes,
        });
    }
    debug!("extraction: in the module (host-native extraction is not available)");
    extract::extract(
        archive,
        Path::new(output),
        opts,
        &extract::Progress(progress),
    )
    .map_err(module_error)
}

/// Decimal units with one decimal, e.g. `95.1 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use premod_sdk::testing::{Captured, capture};
    use zipcraft::{Entry, ZipBuilder};

    use super::*;

    /// `collection/` holding `files`, and an empty `output/`; removed on drop.
    struct Step {
        root: PathBuf,
    }

    impl Step {
        fn new(tag: &str, files: &[(&str, Vec<u8>)]) -> Step {
            let root =
                std::env::temp_dir().join(format!("premod-ic-train-{}-{tag}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(root.join("collection")).unwrap();
            fs::create_dir_all(root.join("output")).unwrap();
            for (name, data) in files {
                fs::write(root.join("collection").join(name), data).unwrap();
            }
            Step { root }
        }

        fn dir(&self, name: &str) -> String {
            self.root.join(name).to_string_lossy().into_owned()
        }

        /// Runs the step with `params`, capturing its log and progress.
        fn run(&self, params: &str) -> (Result<Summary>, Captured) {
            let ctx =
                TrainContext::new(self.dir("collection"), self.dir("output")).with_params(params);
            capture(|| process_for_train(&ctx))
        }
    }

    impl Drop for Step {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    fn dataset_zip() -> Vec<u8> {
        ZipBuilder::new()
            .entry(Entry::dir("dataset/"))
            .entry(Entry::file("dataset/cat/1.png", vec![1u8; 1500]))
            .entry(Entry::file("dataset/dog/2.png", vec![2u8; 500]))
            .build()
    }

    #[test]
    fn logs_like_the_reference_module() {
        let step = Step::new("ok", &[("dataset.zip", dataset_zip())]);
        let (summary, host) = step.run("{}");
        let summary = summary.unwrap();
        let (c, o) = (step.dir("collection"), step.dir("output"));
        // Natively there is no host: the module extracts itself, and says so at debug level,
        // outside the reference module's lines.
        assert!(host.lines.contains(&(
            premod_sdk::Level::Debug,
            "extraction: in the module (host-native extraction is not available)".to_string()
        )));
        let info: Vec<&str> = host
            .lines
            .iter()
            .filter(|(level, _)| *level == premod_sdk::Level::Info)
            .map(|(_, m)| m.as_str())
            .collect();
        assert_eq!(
            info,
            [
                "[hunmin log]  the start line of the function [exec_process]".to_string(),
                format!("[hunmin log] pm.source_path : {c}"),
                format!("[hunmin log] Files and directories in {c} :"),
                "[hunmin log] dir_list : ['dataset.zip']".to_string(),
                format!("[hunmin log] Files and directories in {o} :"),
                "[hunmin log] dir_list : ['dataset']".to_string(),
                "[hunmin log]  the finish line of the function [exec_process]".to_string(),
                "[hunmin log] the end line of the function [process_for_train]".to_string(),
            ]
        );
        assert_eq!(
            summary,
            Summary {
                total: 1,
                success: 1,
                error: 0,
                message: Some("extracted 2 files (2.0 kB) from dataset.zip".into()),
            }
        );
        assert_eq!(host.progress.last(), Some(&(3, 3)));
        assert_eq!(
            fs::read(step.root.join("output/dataset/dog/2.png")).unwrap(),
            vec![2u8; 500]
        );
    }

    #[test]
    fn archive_param_and_sorted_listing() {
        let step = Step::new(
            "param",
            &[("b.zip", dataset_zip()), ("a.txt", b"x".to_vec())],
        );
        let (summary, host) = step.run(r#"{"archive": "b.zip"}"#);
        summary.unwrap();
        assert_eq!(
            host.messages()[3],
            "[hunmin log] dir_list : ['a.txt', 'b.zip']"
        );
    }

    #[test]
    fn missing_archive_says_what_was_expected() {
        let step = Step::new("missing", &[("other.zip", dataset_zip())]);
        let err = step.run("{}").0.unwrap_err();
        let Error::InvalidData(msg) = err else {
            panic!("{err:?}")
        };
        assert!(
            msg.contains("dataset.zip") && msg.contains("['other.zip']"),
            "{msg}"
        );
    }

    #[test]
    fn bad_params_are_invalid_params() {
        let step = Step::new("params", &[("dataset.zip", dataset_zip())]);
        let (result, host) = step.run(r#"{"max_entry": 3}"#);
        let err = result.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidParams(m) if m.contains("`max_entry`")),
            "{err:?}"
        );
        assert!(host.lines.is_empty());
    }

    #[test]
    fn hostile_archive_is_invalid_data() {
        let zip = ZipBuilder::new()
            .entry(Entry::file("../x", b"x".to_vec()))
            .build();
        let step = Step::new("hostile", &[("dataset.zip", zip)]);
        let err = step.run("{}").0.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidData(m) if m.starts_with("entry #0 '../x'")),
            "{err:?}"
        );
    }

    #[test]
    fn human_bytes_like_the_brief() {
        assert_eq!(human_bytes(95_100_000), "95.1 MB");
        assert_eq!(human_bytes(999), "999 bytes");
        assert_eq!(human_bytes(1_000), "1.0 kB");
        assert_eq!(human_bytes(999_999), "1.0 MB");
        assert_eq!(human_bytes(4 << 30), "4.3 GB");
    }
}
