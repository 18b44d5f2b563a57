//! Checks the generated archives the way a consumer sees them: through the `zip` and `image`
//! crates, and byte by byte where the zip crate hides details (the UTF-8 name flag).

use std::collections::BTreeSet;
use std::io::{Cursor, Read};
use std::path::Path;

use premod_datagen::{
    DEFAULT_CLASSES, Format, KOREAN_CLASSES, Options, Summary, plan, write_dataset,
    write_dataset_to,
};
use zip::ZipArchive;

fn generate(opts: &Options) -> (Vec<u8>, Summary) {
    let mut cursor = Cursor::new(Vec::new());
    let summary = write_dataset_to(opts, &mut cursor).unwrap();
    let bytes = cursor.into_inner();
    assert_eq!(summary.zip_bytes, bytes.len() as u64);
    (bytes, summary)
}

/// Every entry as (name, is_dir, contents).
fn entries(zip: &[u8]) -> Vec<(String, bool, Vec<u8>)> {
    let mut archive = ZipArchive::new(Cursor::new(zip)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            file.read_to_end(&mut data).unwrap();
            (file.name().unwrap().into_owned(), file.is_dir(), data)
        })
        .collect()
}

fn tiny() -> Options {
    Options {
        images: 10,
        width: 40,
        height: 30,
        ..Options::small()
    }
}

#[test]
fn same_seed_gives_identical_bytes_whatever_the_threads() {
    let one = Options {
        threads: 1,
        ..Options::small()
    };
    let three = Options {
        threads: 3,
        ..Options::small()
    };
    let (a, sa) = generate(&one);
    let (b, sb) = generate(&three);
    assert!(a == b, "archives differ between 1 and 3 threads");
    assert_eq!(sa, sb);

    // Through a file too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dataset.zip");
    let sf = write_dataset(&Options::small(), &path).unwrap();
    assert!(
        std::fs::read(&path).unwrap() == a,
        "file differs from in-memory archive"
    );
    assert_eq!(sf, sa);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "a .partial file was left behind"
    );

    let other = Options {
        seed: 1,
        ..Options::small()
    };
    assert!(
        generate(&other).0 != a,
        "a different seed gave the same archive"
    );
}

#[test]
fn every_image_decodes_with_the_right_size_and_format() {
    for format in [Format::Png, Format::Jpeg, Format::Mixed] {
        let opts = Options {
            format,
            ..Options::small()
        };
        let (zip, summary) = generate(&opts);
        let mut seen = 0;
        for (name, is_dir, data) in entries(&zip) {
            if is_dir || name.ends_with(".csv") {
                continue;
            }
            let want = if name.ends_with(".png") {
                image::ImageFormat::Png
            } else {
                assert!(name.ends_with(".jpg"), "{name}");
                image::ImageFormat::Jpeg
            };
            assert_eq!(image::guess_format(&data).unwrap(), want, "{name}");
            let img = image::load_from_memory_with_format(&data, want)
                .unwrap_or_else(|e| panic!("{name} does not decode: {e}"));
            assert_eq!(
                (img.width(), img.height()),
                (opts.width, opts.height),
                "{name}"
            );
            match format {
                Format::Png => assert_eq!(want, image::ImageFormat::Png),
                Format::Jpeg => assert_eq!(want, image::ImageFormat::Jpeg),
                Format::Mixed => {}
            }
            seen += 1;
        }
        assert_eq!(seen, opts.images);
        assert_eq!(summary.png + summary.jpeg, opts.images);
        if format == Format::Mixed {
            assert!(summary.png > 0 && summary.jpeg > 0, "{summary:?}");
        }
    }
}

#[test]
fn images_look_like_images() {
    // Not flat colour, not noise: many distinct colours, but neighbouring pixels close.
    let opts = Options {
        format: Format::Png,
        width: 96,
        height: 96,
        ..Options::small()
    };
    let (zip, _) = generate(&opts);
    for (name, _, data) in entries(&zip).into_iter().filter(|e| e.0.ends_with(".png")) {
        let img = image::load_from_memory(&data).unwrap().to_rgb8();
        let colours: BTreeSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
        assert!(
            colours.len() > 500,
            "{name}: only {} colours",
            colours.len()
        );
        let (mut diff, mut n) = (0u64, 0u64);
        for y in 0..img.height() {
            for x in 1..img.width() {
                let (a, b) = (img.get_pixel(x - 1, y).0, img.get_pixel(x, y).0);
                diff += a
                    .iter()
                    .zip(b)
                    .map(|(a, b)| a.abs_diff(b) as u64)
                    .sum::<u64>();
                n += 3;
            }
        }
        let mean = diff as f64 / n as f64;
        assert!(
            mean < 12.0,
            "{name}: neighbours differ by {mean:.1} on average"
        );
    }
}

#[test]
fn archive_has_a_single_dataset_folder_and_matching_labels() {
    let opts = Options::small();
    let (zip, summary) = generate(&opts);
    let entries = entries(&zip);
    assert_eq!(entries[0].0, "dataset/");
    assert!(entries[0].1);
    for (name, _, _) in &entries {
        assert!(name.starts_with("dataset/"), "{name} is outside dataset/");
    }

    let mut dirs = BTreeSet::new();
    let mut files = BTreeSet::new();
    let mut csv = None;
    for (name, is_dir, data) in &entries {
        if *is_dir {
            dirs.insert(name.clone());
        } else if name == "dataset/labels.csv" {
            csv = Some(String::from_utf8(data.clone()).unwrap());
        } else {
            files.insert(name.clone());
        }
    }
    let want_dirs: BTreeSet<String> = std::iter::once("dataset/".to_string())
        .chain(DEFAULT_CLASSES.iter().map(|c| format!("dataset/{c}/")))
        .collect();
    assert_eq!(dirs, want_dirs);

    let csv = csv.expect("dataset/labels.csv is missing");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("path,label"));
    let mut labelled = BTreeSet::new();
    for line in lines {
        let (path, label) = line.split_once(',').unwrap();
        let (folder, file) = path.split_once('/').unwrap();
        assert_eq!(folder, label, "{line}");
        assert!(file.starts_with(&format!("{label}_")), "{line}");
        assert!(labelled.insert(format!("dataset/{path}")), "{line} twice");
    }
    assert_eq!(labelled, files, "labels.csv and the images differ");

    assert_eq!(summary.images, opts.images);
    assert_eq!(files.len(), opts.images);
    let counts: Vec<(String, usize)> = DEFAULT_CLASSES
        .iter()
        .map(|c| {
            let n = files
                .iter()
                .filter(|f| f.starts_with(&format!("dataset/{c}/")))
                .count();
            (c.to_string(), n)
        })
        .collect();
    assert_eq!(summary.per_class, counts);
    assert!(counts.iter().all(|(_, n)| *n == 6), "{counts:?}");
    let total: u64 = entries.iter().map(|e| e.2.len() as u64).sum();
    assert_eq!(summary.uncompressed_bytes, total);
    assert_eq!(plan(&opts).len(), opts.images);
}

#[test]
fn entries_are_deflated_with_a_fixed_timestamp() {
    let (zip, _) = generate(&tiny());
    let mut archive = ZipArchive::new(Cursor::new(&zip)).unwrap();
    for i in 0..archive.len() {
        let file = archive.by_index(i).unwrap();
        if !file.is_dir() {
            assert_eq!(
                file.compression(),
                zip::CompressionMethod::Deflated,
                "{}",
                file.name().unwrap()
            );
        }
        let t = file.last_modified().unwrap();
        assert_eq!(
            (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            (2022, 8, 24, 13, 22, 32),
            "{}",
            file.name().unwrap()
        );
    }
}

#[test]
fn small_preset_stays_small() {
    let (zip, summary) = generate(&Options::small());
    assert_eq!(summary.images, 24);
    assert!(zip.len() < 300_000, "small preset is {} bytes", zip.len());
    assert!(summary.uncompressed_bytes < 300_000, "{summary:?}");
    assert!(
        zip.len() > 20_000,
        "small preset is suspiciously tiny: {}",
        zip.len()
    );
}

/// The central directory, parsed by hand: (general-purpose flags, raw name bytes).
fn central_directory(zip: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let u16_at = |o: usize| u16::from_le_bytes([zip[o], zip[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(zip[o..o + 4].try_into().unwrap()) as usize;
    let eocd = zip.len() - 22; // no archive comment
    assert_eq!(
        u32_at(eocd),
        0x0605_4b50,
        "no end-of-central-directory record"
    );
    let count = u16_at(eocd + 10) as usize;
    let mut at = u32_at(eocd + 16);
    let mut out = Vec::new();
    for _ in 0..count {
        assert_eq!(u32_at(at), 0x0201_4b50, "bad central header at {at}");
        let flags = u16_at(at + 8);
        let (name_len, extra_len, comment_len) = (
            u16_at(at + 28) as usize,
            u16_at(at + 30) as usize,
            u16_at(at + 32) as usize,
        );
        out.push((flags, zip[at + 46..at + 46 + name_len].to_vec()));
        at += 46 + name_len + extra_len + comment_len;
    }
    out
}

#[test]
fn korean_labels_roundtrip_as_utf8_names() {
    let opts = Options::small().with_korean_labels();
    let (zip, summary) = generate(&opts);
    let classes: Vec<&str> = summary.per_class.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(classes, KOREAN_CLASSES);

    let entries = entries(&zip);
    for class in KOREAN_CLASSES {
        let dir = format!("dataset/{class}/");
        assert!(entries.iter().any(|e| e.0 == dir && e.1), "{dir} missing");
        let first = format!("dataset/{class}/{class}_1.");
        assert!(
            entries.iter().any(|e| e.0.starts_with(&first)),
            "{first}* missing"
        );
    }
    let csv = &entries
        .iter()
        .find(|e| e.0 == "dataset/labels.csv")
        .unwrap()
        .2;
    let csv = std::str::from_utf8(csv).unwrap();
    assert!(csv.contains("\n고양이/고양이_1."), "{csv}");
    assert!(csv.lines().skip(1).all(|l| {
        let (path, label) = l.split_once(',').unwrap();
        path.starts_with(&format!("{label}/"))
    }));

    // The raw names are UTF-8 and flagged as such (bit 11), so any unzip tool decodes them.
    let cd = central_directory(&zip);
    assert_eq!(cd.len(), entries.len());
    for ((flags, raw), (name, _, _)) in cd.iter().zip(&entries) {
        assert_eq!(raw.as_slice(), name.as_bytes());
        if !name.is_ascii() {
            assert_ne!(flags & 0x0800, 0, "{name} is not flagged UTF-8");
        }
    }
}

#[test]
fn more_images_extend_a_smaller_dataset() {
    let (small, _) = generate(&tiny());
    let (more, _) = generate(&Options {
        images: 20,
        ..tiny()
    });
    let more = entries(&more);
    for (name, is_dir, data) in entries(&small) {
        if is_dir || name.ends_with(".csv") {
            continue;
        }
        let same = more.iter().find(|e| e.0 == name).expect(&name);
        assert!(
            same.2 == data,
            "{name} changed when more images were asked for"
        );
    }
}

#[test]
fn custom_classes_sizes_and_bad_options() {
    let opts = Options {
        images: 7,
        width: 17,
        height: 9,
        classes: vec!["a".into(), "b c".into()],
        ..Options::small()
    };
    let (zip, summary) = generate(&opts);
    assert_eq!(
        summary.per_class,
        vec![("a".to_string(), 4), ("b c".to_string(), 3)]
    );
    assert!(
        entries(&zip)
            .iter()
            .any(|e| e.0 == "dataset/b c/b c_3.png" || e.0 == "dataset/b c/b c_3.jpg")
    );

    let empty = Options {
        images: 0,
        ..Options::small()
    };
    let (zip, summary) = generate(&empty);
    assert_eq!(summary.images, 0);
    let names: Vec<String> = entries(&zip).into_iter().map(|e| e.0).collect();
    assert_eq!(
        names,
        [
            "dataset/",
            "dataset/cat/",
            "dataset/dog/",
            "dataset/bird/",
            "dataset/fish/",
            "dataset/labels.csv"
        ]
    );

    for bad in [
        Options {
            width: 0,
            ..Options::small()
        },
        Options {
            jpeg_quality: 0,
            ..Options::small()
        },
        Options {
            classes: vec![],
            ..Options::small()
        },
        Options {
            classes: vec!["x/y".into()],
            ..Options::small()
        },
    ] {
        assert!(
            write_dataset_to(&bad, Cursor::new(Vec::new())).is_err(),
            "{bad:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(write_dataset(&bad, &dir.path().join("d.zip")).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

#[test]
fn presets_are_as_documented() {
    let bench = Options::bench();
    assert_eq!(bench.images, 2000);
    assert_eq!(bench.format, Format::Mixed);
    bench.validate().unwrap();
    let small = Options::small();
    assert_eq!(small.images, 24);
    small.validate().unwrap();
    Options::default().validate().unwrap();
}

#[test]
fn cli_writes_the_archive_and_prints_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ds.zip");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_gen-dataset"))
        .args(["--preset", "small", "--korean-labels", "--size", "32x24"])
        .args(["--images", "8", "--format", "jpeg", "--seed", "7", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let line = String::from_utf8(run.stdout).unwrap();
    assert!(
        line.contains("8 images (0 png, 8 jpeg) in 4 classes"),
        "{line}"
    );
    assert!(
        line.contains("MB zip") && line.trim_end().ends_with(" s"),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1, "{line}");

    let want = Options {
        images: 8,
        width: 32,
        height: 24,
        format: Format::Jpeg,
        seed: 7,
        ..Options::small().with_korean_labels()
    };
    let (bytes, _) = generate(&want);
    assert!(
        std::fs::read(&out).unwrap() == bytes,
        "CLI and library disagree"
    );

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_gen-dataset"))
        .args(["--size", "32", "--out"])
        .arg(dir.path().join("x.zip"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(!Path::new(&dir.path().join("x.zip")).exists());
}

/// Generates the full 2,000-image bench set (about 100 MB): run with `--ignored` in release mode.
#[test]
#[ignore = "writes about 100 MB; run with --release -- --ignored"]
fn bench_preset_is_about_100_mb() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dataset.zip");
    let started = std::time::Instant::now();
    let summary = write_dataset(&Options::bench(), &path).unwrap();
    let secs = started.elapsed().as_secs_f64();
    let mb = summary.zip_bytes as f64 / 1e6;
    eprintln!("bench: {summary:?} in {secs:.2} s");
    assert_eq!(summary.images, 2000);
    assert!((90.0..=110.0).contains(&mb), "bench archive is {mb:.1} MB");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), summary.zip_bytes);
}
