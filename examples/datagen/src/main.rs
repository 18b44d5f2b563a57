use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use premod_datagen::{Format, Options, Preset, write_dataset};

/// Generate a realistic image-classification dataset.zip.
///
/// The archive holds one top-level `dataset/` folder with a sub-folder of PNG and JPEG images per
/// class (`dataset/<class>/<class>_<n>.png|jpg`) and `dataset/labels.csv` (`path,label` rows,
/// paths relative to `dataset/`). Images are procedural but image-like, so their PNG and JPEG
/// sizes are realistic. The same options always give the same bytes.
///
/// Start from a preset and override any value with the flags below.
#[derive(Debug, Parser)]
#[command(name = "gen-dataset", version, about, long_about)]
struct Cli {
    /// Where to write the archive.
    #[arg(short, long, value_name = "PATH", default_value = "dataset.zip")]
    out: PathBuf,

    /// Base settings: `default` (200 images, 224x224), `small` (24 images, 64x48, tens of kB,
    /// for tests) or `bench` (2,000 images, 256x256, about 100 MB).
    #[arg(short, long, value_name = "NAME", default_value = "default")]
    preset: Preset,

    /// Number of images, spread evenly over the classes.
    #[arg(short = 'n', long, value_name = "N")]
    images: Option<usize>,

    /// Image width in pixels.
    #[arg(long, value_name = "PX", conflicts_with = "size")]
    width: Option<u32>,

    /// Image height in pixels.
    #[arg(long, value_name = "PX", conflicts_with = "size")]
    height: Option<u32>,

    /// Image size as WIDTHxHEIGHT, e.g. 320x240.
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    size: Option<(u32, u32)>,

    /// Image format: png, jpeg, or mixed (each image PNG or JPEG). [default: mixed]
    #[arg(short, long, value_name = "FORMAT")]
    format: Option<Format>,

    /// Seed of the dataset; the same seed and options give byte-identical archives. [default: 0]
    #[arg(short, long, value_name = "N")]
    seed: Option<u64>,

    /// Use Korean class names (고양이, 개, 새, 물고기), stored as UTF-8 names in the zip.
    #[arg(long, conflicts_with = "classes")]
    korean_labels: bool,

    /// Comma-separated class names. [default: cat,dog,bird,fish]
    #[arg(long, value_name = "A,B,..", value_delimiter = ',')]
    classes: Option<Vec<String>>,

    /// JPEG quality, 1-100. [default: 90]
    #[arg(long, value_name = "Q", value_parser = clap::value_parser!(u8).range(1..=100))]
    jpeg_quality: Option<u8>,

    /// Grain amplitude in 8-bit levels, 0-64; more grain gives larger files. [default: 4]
    #[arg(long, value_name = "LEVELS", value_parser = clap::value_parser!(u8).range(0..=64))]
    noise: Option<u8>,

    /// Worker threads (0 = one per core). Does not change the output.
    #[arg(short, long, value_name = "N", default_value_t = 0)]
    jobs: usize,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{s:?} is not WIDTHxHEIGHT, e.g. 320x240"))?;
    let px = |v: &str| {
        v.trim()
            .parse::<u32>()
            .map_err(|e| format!("bad size {v:?} in {s:?}: {e}"))
    };
    Ok((px(w)?, px(h)?))
}

impl Cli {
    fn options(&self) -> Options {
        let mut opts = Options::preset(self.preset);
        if let Some(n) = self.images {
            opts.images = n;
        }
        if let Some((w, h)) = self.size {
            (opts.width, opts.height) = (w, h);
        }
        if let Some(w) = self.width {
            opts.width = w;
        }
        if let Some(h) = self.height {
            opts.height = h;
        }
        if let Some(f) = self.format {
            opts.format = f;
        }
        if let Some(s) = self.seed {
            opts.seed = s;
        }
        if self.korean_labels {
            opts = opts.with_korean_labels();
        }
        if let Some(c) = &self.classes {
            opts.classes = c.clone();
        }
        if let Some(q) = self.jpeg_quality {
            opts.jpeg_quality = q;
        }
        if let Some(n) = self.noise {
            opts.noise = n;
        }
        opts.threads = self.jobs;
        opts
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let opts = cli.options();
    if let Err(e) = opts.validate() {
        eprintln!("gen-dataset: {e:#}");
        return std::process::ExitCode::from(2);
    }
    let started = Instant::now();
    match write_dataset(&opts, &cli.out) {
        Ok(s) => {
            const MB: f64 = 1_000_000.0;
            println!(
                "{}: {} images ({} png, {} jpeg) in {} classes, {:.2} MB uncompressed, {:.2} MB zip, {:.2} s",
                cli.out.display(),
                s.images,
                s.png,
                s.jpeg,
                s.per_class.len(),
                s.uncompressed_bytes as f64 / MB,
                s.zip_bytes as f64 / MB,
                started.elapsed().as_secs_f64()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-dataset: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
