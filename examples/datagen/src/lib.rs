//! Generates realistic image-classification `dataset.zip` files for examples, tests and
//! benchmarks.
//!
//! The archive looks like what a user uploads to a training platform:
//!
//! ```text
//! dataset/
//! dataset/cat/
//! dataset/cat/cat_1.png
//! dataset/cat/cat_2.jpg
//! ...
//! dataset/fish/fish_6.jpg
//! dataset/labels.csv        # "path,label" rows, paths relative to dataset/
//! ```
//!
//! Images are procedural but image-like: a smooth coloured gradient lit by low-frequency value
//! noise, a few translucent background shapes, one shaded "subject" whose hue and shape depend on
//! the class, and mild sensor-like grain. PNG and JPEG sizes therefore behave like those of small
//! photographs rather than flat colour or pure noise.
//!
//! Output is fully deterministic: the same [`Options`] give the same bytes, whatever the number of
//! worker threads (every image is rendered from its own seed, entries are written in a fixed order
//! with a fixed timestamp).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::{Context, Result, bail, ensure};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};
use zip::write::{PreparedZipFile, SimpleFileOptions};
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Default class names.
pub const DEFAULT_CLASSES: [&str; 4] = ["cat", "dog", "bird", "fish"];

/// Korean class names (cat, dog, bird, fish), used by `--korean-labels`.
pub const KOREAN_CLASSES: [&str; 4] = ["고양이", "개", "새", "물고기"];

/// Name of the single top-level folder of the archive.
pub const ROOT_DIR: &str = "dataset";

/// Name of the labels file inside [`ROOT_DIR`].
pub const LABELS_FILE: &str = "labels.csv";

/// Largest accepted image width or height, in pixels.
pub const MAX_DIMENSION: u32 = 4096;

/// Deflate level of the archive entries: fast, like a typical platform upload.
const ZIP_DEFLATE_LEVEL: i64 = 2;

/// Image file format of the generated images.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Every image is a PNG (`.png`).
    Png,
    /// Every image is a JPEG (`.jpg`).
    Jpeg,
    /// Each image is a PNG or a JPEG, chosen from its seed (about half each).
    Mixed,
}

impl Format {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpeg",
            Format::Mixed => "mixed",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "png" => Ok(Format::Png),
            "jpeg" | "jpg" => Ok(Format::Jpeg),
            "mixed" => Ok(Format::Mixed),
            other => bail!("unknown format {other:?} (expected png, jpeg or mixed)"),
        }
    }
}

/// What to generate. Start from [`Options::default`], [`Options::small`] or [`Options::bench`]
/// and change fields as needed; [`Options::validate`] (also called by the writers) checks them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Number of images, spread as evenly as possible over the classes (the first classes get
    /// one more when it does not divide evenly).
    pub images: usize,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// PNG, JPEG or both.
    pub format: Format,
    /// Seed of the whole dataset; the same options give the same bytes.
    pub seed: u64,
    /// Class names, in order: folder names, file-name prefixes and labels. Any UTF-8 except
    /// path separators, control characters, `,` and `"`.
    pub classes: Vec<String>,
    /// JPEG quality, 1–100.
    pub jpeg_quality: u8,
    /// Amplitude of the per-pixel grain, 0–64 (in 8-bit levels). More grain makes larger files.
    pub noise: u8,
    /// Worker threads; 0 means one per available core. Does not change the output.
    pub threads: usize,
}

impl Default for Options {
    /// 200 images of 224×224 (a common classification input size), mixed formats, seed 0.
    fn default() -> Self {
        Options {
            images: 200,
            width: 224,
            height: 224,
            format: Format::Mixed,
            seed: 0,
            classes: DEFAULT_CLASSES.iter().map(|c| c.to_string()).collect(),
            jpeg_quality: 90,
            noise: 4,
            threads: 0,
        }
    }
}

impl Options {
    /// The `small` preset: 24 small images (64×48), a few dozen kB in all, for tests.
    pub fn small() -> Self {
        Options {
            images: 24,
            width: 64,
            height: 48,
            ..Options::default()
        }
    }

    /// The `bench` preset: 2,000 images of 256×256, tuned so that the archive is about 100 MB.
    pub fn bench() -> Self {
        Options {
            images: 2000,
            width: 256,
            height: 256,
            ..Options::default()
        }
    }

    /// The options of a named preset (`default`, `small` or `bench`).
    pub fn preset(preset: Preset) -> Self {
        match preset {
            Preset::Default => Options::default(),
            Preset::Small => Options::small(),
            Preset::Bench => Options::bench(),
        }
    }

    /// Replaces the classes with the Korean names of [`KOREAN_CLASSES`].
    pub fn with_korean_labels(mut self) -> Self {
        self.classes = KOREAN_CLASSES.iter().map(|c| c.to_string()).collect();
        self
    }

    /// Checks that the options describe a dataset that can be written.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            (1..=MAX_DIMENSION).contains(&self.width) && (1..=MAX_DIMENSION).contains(&self.height),
            "image size {}x{} is out of range (1 to {MAX_DIMENSION} pixels per side)",
            self.width,
            self.height
        );
        ensure!(
            (1..=100).contains(&self.jpeg_quality),
            "JPEG quality {} is out of range (1 to 100)",
            self.jpeg_quality
        );
        ensure!(
            self.noise <= 64,
            "noise {} is out of range (0 to 64)",
            self.noise
        );
        ensure!(!self.classes.is_empty(), "at least one class is needed");
        for (i, class) in self.classes.iter().enumerate() {
            validate_class_name(class)?;
            ensure!(
                !self.classes[..i].contains(class),
                "class {class:?} is given twice"
            );
        }
        Ok(())
    }

    /// Number of images of each class, in class order.
    pub fn class_counts(&self) -> Vec<usize> {
        let k = self.classes.len().max(1);
        (0..self.classes.len())
            .map(|c| self.images / k + usize::from(c < self.images % k))
            .collect()
    }
}

fn validate_class_name(class: &str) -> Result<()> {
    ensure!(!class.trim().is_empty(), "a class name is empty");
    ensure!(
        class != "." && class != "..",
        "class name {class:?} is not a valid folder name"
    );
    ensure!(
        class.trim() == class,
        "class name {class:?} starts or ends with whitespace"
    );
    if let Some(bad) = class
        .chars()
        .find(|c| matches!(c, '/' | '\\' | ',' | '"' | ':') || c.is_control())
    {
        bail!("class name {class:?} contains the character {bad:?}, which is not allowed");
    }
    Ok(())
}

/// A named set of options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    /// [`Options::default`].
    Default,
    /// [`Options::small`].
    Small,
    /// [`Options::bench`].
    Bench,
}

impl FromStr for Preset {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "default" => Ok(Preset::Default),
            "small" => Ok(Preset::Small),
            "bench" => Ok(Preset::Bench),
            other => bail!("unknown preset {other:?} (expected default, small or bench)"),
        }
    }
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Number of images.
    pub images: usize,
    /// Images per class, in class order.
    pub per_class: Vec<(String, usize)>,
    /// How many images are PNG.
    pub png: usize,
    /// How many images are JPEG.
    pub jpeg: usize,
    /// Sum of the uncompressed sizes of all file entries (images and `labels.csv`).
    pub uncompressed_bytes: u64,
    /// Size of the whole archive.
    pub zip_bytes: u64,
}

/// One image of the dataset, as listed in `labels.csv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Index of the class in [`Options::classes`].
    pub class: usize,
    /// 1-based number of the image within its class.
    pub number: usize,
    /// Format of this image (never [`Format::Mixed`]).
    pub format: Format,
    /// Path inside the archive, e.g. `dataset/cat/cat_1.png`.
    pub zip_path: String,
}

impl Entry {
    /// The path as written in `labels.csv`: relative to the `dataset/` folder.
    pub fn label_path(&self) -> &str {
        &self.zip_path[ROOT_DIR.len() + 1..]
    }
}

/// Lists the images that [`write_dataset`] writes, in archive order (class by class).
pub fn plan(opts: &Options) -> Vec<Entry> {
    let mut entries = Vec::with_capacity(opts.images);
    for (class, count) in opts.class_counts().into_iter().enumerate() {
        let name = &opts.classes[class];
        for number in 1..=count {
            let format = image_format(opts, class, number);
            let ext = if format == Format::Png { "png" } else { "jpg" };
            entries.push(Entry {
                class,
                number,
                format,
                zip_path: format!("{ROOT_DIR}/{name}/{name}_{number}.{ext}"),
            });
        }
    }
    entries
}

/// The contents of `labels.csv` for these entries.
pub fn labels_csv(opts: &Options, entries: &[Entry]) -> String {
    let mut csv = String::from("path,label\n");
    for e in entries {
        csv.push_str(e.label_path());
        csv.push(',');
        csv.push_str(&opts.classes[e.class]);
        csv.push('\n');
    }
    csv
}

/// Writes the dataset archive to `out` and returns what was written.
///
/// The archive is first written next to `out` (as `<out>.partial`) and renamed when complete, so
/// a failed run never leaves a truncated `dataset.zip` behind.
pub fn write_dataset(opts: &Options, out: &Path) -> Result<Summary> {
    opts.validate()?;
    let mut partial = PathBuf::from(out.as_os_str().to_owned());
    partial.as_mut_os_string().push(".partial");
    let result = (|| {
        let file = File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        let summary = write_dataset_to(opts, &mut writer)?;
        let file = writer
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", partial.display()))?;
        file.sync_all()
            .with_context(|| format!("cannot write {}", partial.display()))?;
        drop(file);
        std::fs::rename(&partial, out)
            .with_context(|| format!("cannot rename {} to {}", partial.display(), out.display()))?;
        Ok(summary)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Writes the dataset archive into any seekable writer (a file, a `Cursor<Vec<u8>>`, ...).
///
/// [`Summary::zip_bytes`] is the number of bytes written from the writer's position at the call.
pub fn write_dataset_to<W: Write + Seek>(opts: &Options, mut writer: W) -> Result<Summary> {
    opts.validate()?;
    let entries = plan(opts);
    let start = writer.stream_position()?;
    let mut zip = ZipWriter::new(writer);

    let file_opts = file_options();
    let dir_opts = SimpleFileOptions::default()
        .last_modified_time(fixed_time())
        .unix_permissions(0o755);

    zip.add_directory(format!("{ROOT_DIR}/"), dir_opts)?;

    let mut summary = Summary {
        images: entries.len(),
        per_class: opts
            .classes
            .iter()
            .cloned()
            .zip(opts.class_counts())
            .collect(),
        png: entries.iter().filter(|e| e.format == Format::Png).count(),
        jpeg: entries.iter().filter(|e| e.format == Format::Jpeg).count(),
        uncompressed_bytes: 0,
        zip_bytes: 0,
    };

    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, entries.len().max(1));

    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = mpsc::sync_channel::<(usize, Result<PreparedZipFile>)>(threads * 4);
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, entries) = (&next, &entries);
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(entry) = entries.get(index) else {
                        break;
                    };
                    let prepared = prepare_image(opts, entry);
                    if tx.send((index, prepared)).is_err() {
                        break; // the writer gave up
                    }
                }
            });
        }
        drop(tx);

        // Write entries in plan order; results arrive roughly in order, so the buffer stays small.
        // Each class folder comes just before its images (empty classes get a folder too).
        let mut pending = BTreeMap::new();
        let mut next_dir = 0;
        let mut add_dirs_up_to = |zip: &mut ZipWriter<W>, class: usize| -> Result<()> {
            while next_dir <= class.min(opts.classes.len() - 1) {
                let dir = format!("{ROOT_DIR}/{}/", opts.classes[next_dir]);
                zip.add_directory(dir, dir_opts)?;
                next_dir += 1;
            }
            Ok(())
        };
        for (want, entry) in entries.iter().enumerate() {
            let prepared = loop {
                if let Some(p) = pending.remove(&want) {
                    break p;
                }
                let (index, prepared) = rx.recv().context("an image worker stopped early")?;
                pending.insert(index, prepared?);
            };
            add_dirs_up_to(&mut zip, entry.class)?;
            summary.uncompressed_bytes += prepared.uncompressed_size();
            zip.add_prepared_file(prepared)
                .with_context(|| format!("cannot add {}", entry.zip_path))?;
        }
        add_dirs_up_to(&mut zip, usize::MAX)
    })?;

    let csv = labels_csv(opts, &entries);
    zip.start_file(format!("{ROOT_DIR}/{LABELS_FILE}"), file_opts)?;
    zip.write_all(csv.as_bytes())?;
    summary.uncompressed_bytes += csv.len() as u64;

    let mut writer = zip.finish().context("cannot finish the zip archive")?;
    summary.zip_bytes = writer.stream_position()? - start;
    Ok(summary)
}

fn fixed_time() -> DateTime {
    // A fixed, valid MS-DOS timestamp, so that archives are byte-for-byte reproducible.
    DateTime::from_date_and_time(2022, 8, 24, 13, 22, 32).expect("valid date")
}

fn file_options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(ZIP_DEFLATE_LEVEL))
        .last_modified_time(fixed_time())
        .unix_permissions(0o644)
}

/// Renders, encodes and compresses one image.
fn prepare_image(opts: &Options, entry: &Entry) -> Result<PreparedZipFile> {
    let bytes = encode_image(opts, entry)?;
    PreparedZipFile::from_data(&entry.zip_path, file_options(), &bytes)
        .with_context(|| format!("cannot compress {}", entry.zip_path))
}

/// The encoded PNG or JPEG bytes of one image of [`plan`].
///
/// An image depends only on the seed, its class (index and name count), its number, the size,
/// the grain and its format, so a dataset with more images extends a smaller one.
pub fn encode_image(opts: &Options, entry: &Entry) -> Result<Vec<u8>> {
    let (w, h) = (opts.width, opts.height);
    let mut rng = Rng::stream(opts.seed, STREAM_PIXELS, entry.class, entry.number);
    let pixels = render(&mut rng, w, h, entry.class, opts.classes.len(), opts.noise);
    let mut out = Vec::with_capacity(pixels.len() / 2);
    match entry.format {
        Format::Png => {
            PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
                .write_image(&pixels, w, h, ExtendedColorType::Rgb8)
        }
        _ => JpegEncoder::new_with_quality(&mut out, opts.jpeg_quality).write_image(
            &pixels,
            w,
            h,
            ExtendedColorType::Rgb8,
        ),
    }
    .with_context(|| format!("cannot encode {}", entry.zip_path))?;
    Ok(out)
}

fn image_format(opts: &Options, class: usize, number: usize) -> Format {
    match opts.format {
        Format::Mixed => {
            // A stream of its own, so the choice does not disturb the image's pixels.
            let mut rng = Rng::stream(opts.seed, STREAM_FORMAT, class, number);
            if rng.next_u64() >> 63 == 0 {
                Format::Png
            } else {
                Format::Jpeg
            }
        }
        f => f,
    }
}

// ---------------------------------------------------------------------------------------------
// Random numbers

const STREAM_PIXELS: u64 = 0x5DEE_CE66_D1CE_4E5B;
const STREAM_FORMAT: u64 = 0xF0F0_5A5A_0F0F_A5A5;

/// SplitMix64: tiny, fast, and good enough for procedural pictures.
#[derive(Clone, Debug)]
struct Rng(u64);

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// An independent stream for one purpose (`salt`) of one image.
    fn stream(seed: u64, salt: u64, class: usize, number: usize) -> Self {
        let mut z = mix(seed ^ salt);
        z = mix(z
            .wrapping_add(class as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15));
        Rng(mix(z ^ number as u64))
    }

    /// A uniformly random direction as (cos, sin), without trigonometry (whose last bits vary
    /// between math libraries), so that output is the same on every platform.
    fn direction(&mut self) -> (f32, f32) {
        loop {
            let (x, y) = (self.range(-1.0, 1.0), self.range(-1.0, 1.0));
            let r2 = x * x + y * y;
            if (0.01..=1.0).contains(&r2) {
                let r = r2.sqrt();
                return (x / r, y / r);
            }
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in 0..n.
    fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering

type Rgb = [f32; 3];

/// A colour from hue (degrees), saturation and value, all channels in 0..1.
fn hsv(h: f32, s: f32, v: f32) -> Rgb {
    let h = h.rem_euclid(360.0) / 60.0;
    let c = v * s;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r + m, g + m, b + m]
}

/// Smooth 2-D value noise on a coarse grid, sampled row by row.
struct ValueNoise {
    cols: usize,
    values: Vec<f32>,
    xs: Vec<(usize, f32)>,
    ys: Vec<(usize, f32)>,
}

impl ValueNoise {
    fn new(rng: &mut Rng, w: u32, h: u32, cell: f32) -> Self {
        let cell = cell.max(1.0);
        let cols = (w as f32 / cell) as usize + 2;
        let rows = (h as f32 / cell) as usize + 2;
        let values = (0..cols * rows).map(|_| rng.unit()).collect();
        let axis = |n: u32| {
            (0..n)
                .map(|i| {
                    let f = i as f32 / cell;
                    let t = f.fract();
                    (f as usize, t * t * (3.0 - 2.0 * t))
                })
                .collect()
        };
        ValueNoise {
            cols,
            values,
            xs: axis(w),
            ys: axis(h),
        }
    }

    /// Adds `amp * (noise - 0.5)` to every pixel of row `y`. `grid` is scratch space.
    fn add_row(&self, y: usize, amp: f32, row: &mut [f32], grid: &mut Vec<f32>) {
        let (iy, ty) = self.ys[y];
        let top = &self.values[iy * self.cols..(iy + 1) * self.cols];
        let bottom = &self.values[(iy + 1) * self.cols..(iy + 2) * self.cols];
        grid.clear();
        grid.extend(top.iter().zip(bottom).map(|(t, b)| t + (b - t) * ty));
        for (out, &(ix, tx)) in row.iter_mut().zip(&self.xs) {
            let (l, r) = (grid[ix], grid[ix + 1]);
            *out += amp * (l + (r - l) * tx - 0.5);
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Ellipse,
    Rect,
    Blob,
}

struct Shape {
    kind: Kind,
    cx: f32,
    cy: f32,
    /// Half-axes, in pixels.
    a: f32,
    b: f32,
    cos: f32,
    sin: f32,
    color: Rgb,
    opacity: f32,
    /// Strength of the light gradient across the shape.
    shade: f32,
}

impl Shape {
    fn random(rng: &mut Rng, kind: Kind, cx: f32, cy: f32, a: f32, b: f32, color: Rgb) -> Self {
        let (cos, sin) = rng.direction();
        Shape {
            kind,
            cx,
            cy,
            a: a.max(0.75),
            b: b.max(0.75),
            cos,
            sin,
            color,
            opacity: 1.0,
            shade: rng.range(0.1, 0.35),
        }
    }

    fn draw(&self, buf: &mut [f32], w: usize, h: usize) {
        let reach = match self.kind {
            Kind::Blob => 2.0 * self.a.max(self.b),
            Kind::Rect => std::f32::consts::SQRT_2 * self.a.max(self.b),
            Kind::Ellipse => self.a.max(self.b),
        } + 1.5;
        let x0 = (self.cx - reach).floor().max(0.0) as usize;
        let y0 = (self.cy - reach).floor().max(0.0) as usize;
        let x1 = ((self.cx + reach).ceil().max(0.0) as usize).min(w);
        let y1 = ((self.cy + reach).ceil().max(0.0) as usize).min(h);
        let (inv_a, inv_b) = (1.0 / self.a, 1.0 / self.b);
        let min_axis = self.a.min(self.b);
        let inner = (1.0 - 0.5 / min_axis).max(0.0);
        let inner2 = inner * inner;
        for y in y0..y1 {
            let dy = y as f32 + 0.5 - self.cy;
            let row = &mut buf[(y * w + x0) * 3..(y * w + x1) * 3];
            for (i, px) in row.chunks_exact_mut(3).enumerate() {
                let dx = (x0 + i) as f32 + 0.5 - self.cx;
                let u = dx * self.cos + dy * self.sin;
                let v = dy * self.cos - dx * self.sin;
                let (nu, nv) = (u * inv_a, v * inv_b);
                let (coverage, light) = match self.kind {
                    Kind::Ellipse => {
                        let k2 = nu * nu + nv * nv;
                        if k2 > 2.5 {
                            continue;
                        }
                        // Inside the anti-aliased rim the coverage is 1: skip the square root.
                        let cov = if k2 <= inner2 {
                            1.0
                        } else {
                            (0.5 - (k2.sqrt() - 1.0) * min_axis).clamp(0.0, 1.0)
                        };
                        (cov, 1.0 - self.shade * (nu + nv) * 0.7 - 0.2 * k2.min(1.0))
                    }
                    Kind::Rect => {
                        let sd = (u.abs() - self.a).max(v.abs() - self.b);
                        let cov = (0.5 - sd).clamp(0.0, 1.0);
                        (cov, 1.0 - self.shade * nu)
                    }
                    Kind::Blob => {
                        let k2 = (nu * nu + nv * nv) * 0.25;
                        if k2 >= 1.0 {
                            continue;
                        }
                        let f = 1.0 - k2;
                        (f * f, 1.0 - self.shade * nv)
                    }
                };
                let alpha = coverage * self.opacity;
                if alpha <= 0.0 {
                    continue;
                }
                for (p, c) in px.iter_mut().zip(self.color) {
                    *p += (c * light - *p) * alpha;
                }
            }
        }
    }
}

/// Renders one RGB8 image. `class` picks the hue and shape of the subject so that the classes
/// differ a little, like real ones.
fn render(rng: &mut Rng, w: u32, h: u32, class: usize, classes: usize, noise: u8) -> Vec<u8> {
    let (wu, hu) = (w as usize, h as usize);
    let (wf, hf) = (w as f32, h as f32);
    let size = wf.max(hf);
    let mut buf = vec![0f32; wu * hu * 3];

    // Background: a gradient between two related colours, lit by three octaves of value
    // noise (lighting, texture, fine grain).
    let base_hue = rng.range(0.0, 360.0);
    let c0 = hsv(base_hue, rng.range(0.1, 0.6), rng.range(0.35, 0.95));
    let c1 = hsv(
        base_hue + rng.range(-60.0, 60.0),
        rng.range(0.1, 0.7),
        rng.range(0.2, 0.9),
    );
    let (dir_x, dir_y) = rng.direction();
    let (gx, gy) = (dir_x / size, dir_y / size);
    let g_off = 0.5 - 0.5 * (gx * wf + gy * hf);
    let light = ValueNoise::new(rng, w, h, size / 3.0);
    let texture = ValueNoise::new(rng, w, h, (size / 24.0).max(2.0));
    let light_amp = rng.range(0.2, 0.5);
    let texture_amp = rng.range(0.04, 0.14);
    let fine_cell = rng.range(2.0, 4.0);
    let fine = ValueNoise::new(rng, w, h, fine_cell);
    let fine_amp = rng.range(0.03, 0.09);
    let (mut shade, mut grid) = (vec![0f32; wu], Vec::new());
    for y in 0..hu {
        shade.fill(1.0);
        light.add_row(y, light_amp, &mut shade, &mut grid);
        texture.add_row(y, texture_amp, &mut shade, &mut grid);
        fine.add_row(y, fine_amp, &mut shade, &mut grid);
        let row = &mut buf[y * wu * 3..(y + 1) * wu * 3];
        let t_row = y as f32 * gy + g_off;
        for (x, (px, s)) in row.chunks_exact_mut(3).zip(&shade).enumerate() {
            let t = (x as f32 * gx + t_row).clamp(0.0, 1.0);
            for c in 0..3 {
                px[c] = (c0[c] + (c1[c] - c0[c]) * t) * s;
            }
        }
    }

    // Background clutter: translucent shapes of assorted colours.
    for _ in 0..3 + rng.below(6) {
        let kind = [Kind::Ellipse, Kind::Rect, Kind::Blob][rng.below(3) as usize];
        let color = hsv(
            rng.range(0.0, 360.0),
            rng.range(0.1, 0.8),
            rng.range(0.2, 1.0),
        );
        let (cx, cy) = (rng.range(0.0, wf), rng.range(0.0, hf));
        let (a, b) = (rng.range(0.04, 0.22) * size, rng.range(0.04, 0.22) * size);
        let mut shape = Shape::random(rng, kind, cx, cy, a, b, color);
        shape.opacity = rng.range(0.25, 0.8);
        shape.draw(&mut buf, wu, hu);
    }

    // The subject: hue and shape follow the class, position, size and pose vary.
    let class_hue = 360.0 * class as f32 / classes.max(1) as f32;
    let color = hsv(
        class_hue + rng.range(-25.0, 25.0),
        rng.range(0.45, 0.9),
        rng.range(0.45, 1.0),
    );
    let kind = [Kind::Ellipse, Kind::Rect, Kind::Blob][class % 3];
    let (cx, cy) = (wf * rng.range(0.3, 0.7), hf * rng.range(0.3, 0.7));
    let a = rng.range(0.14, 0.3) * size;
    let b = a * rng.range(0.5, 1.0);
    let mut subject = Shape::random(rng, kind, cx, cy, a, b, color);
    subject.opacity = if kind == Kind::Blob { 1.0 } else { 0.97 };
    subject.draw(&mut buf, wu, hu);
    // Details on the subject (markings, "eyes").
    for _ in 0..2 + rng.below(3) {
        let r = rng.range(0.03, 0.08) * a.max(8.0);
        let (dx, dy) = (rng.range(-0.5, 0.5) * a, rng.range(-0.5, 0.5) * b);
        let dark = hsv(class_hue + 180.0, rng.range(0.0, 0.5), rng.range(0.0, 0.35));
        let r2 = r * rng.range(0.6, 1.0);
        let mut spot = Shape::random(rng, Kind::Ellipse, cx + dx, cy + dy, r, r2, dark);
        spot.opacity = rng.range(0.6, 1.0);
        spot.draw(&mut buf, wu, hu);
    }

    // Quantise with mild grain: a luminance part shared by the channels plus a little chroma.
    let amp = f32::from(noise);
    let mut out = vec![0u8; wu * hu * 3];
    for (o, px) in out.chunks_exact_mut(3).zip(buf.chunks_exact(3)) {
        let r = rng.next_u64().to_le_bytes();
        let luma = (f32::from(r[0]) + f32::from(r[1]) - 255.0) * (amp / 255.0);
        for c in 0..3 {
            let chroma = (f32::from(r[2 + c]) - 127.5) * (amp / 512.0);
            o[c] = (px[c] * 255.0 + luma + chroma + 0.5).clamp(0.0, 255.0) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_counts_spread_evenly() {
        let opts = Options {
            images: 10,
            ..Options::small()
        };
        assert_eq!(opts.class_counts(), vec![3, 3, 2, 2]);
        assert_eq!(plan(&opts).len(), 10);
    }

    #[test]
    fn rng_is_uniform_enough() {
        let mut rng = Rng::stream(1, 2, 3, 4);
        let mean = (0..10_000).map(|_| rng.unit()).sum::<f32>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        assert!((0..1000).all(|_| rng.below(7) < 7));
    }

    #[test]
    fn bad_class_names_are_refused() {
        for bad in ["", "a/b", "a,b", "..", " x", "a\nb"] {
            let opts = Options {
                classes: vec![bad.to_string()],
                ..Options::small()
            };
            assert!(opts.validate().is_err(), "{bad:?} accepted");
        }
        let twice = Options {
            classes: vec!["a".into(), "a".into()],
            ..Options::small()
        };
        assert!(twice.validate().is_err());
    }
}
