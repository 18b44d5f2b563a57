//! The work itself, without bindings: decode, resize, encode; and the folder walk the
//! single-instance path uses. Unit-tested natively and run natively by the bench.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageFormat, ImageReader};
use std::fs;
use std::io::{BufWriter, Cursor, Write};
use std::path::Path;

/// JPEG quality of the output, as Pillow's default.
pub const JPEG_QUALITY: u8 = 75;

/// Decodes `data`, resizes it to `size`x`size` (bilinear, aspect ratio not kept: a model's
/// input size) and encodes it in the same format. Errors name the problem.
pub fn resize_bytes(data: &[u8], size: u32) -> Result<(Vec<u8>, ImageFormat), String> {
    let reader = ImageReader::new(Cursor::new(data))
        .with_guessed_format()
        .map_err(|e| format!("cannot read the image: {e}"))?;
    let format = match reader.format() {
        Some(f @ (ImageFormat::Png | ImageFormat::Jpeg)) => f,
        Some(other) => return Err(format!("{other:?} images are not supported (PNG or JPEG)")),
        None => return Err("not a PNG or JPEG image".into()),
    };
    let image = reader
        .decode()
        .map_err(|e| format!("cannot decode the {format:?} image: {e}"))?;
    let resized = resize_image(&image, size)?;
    let mut out = Vec::with_capacity(data.len() / 2);
    encode(&resized, format, &mut out)?;
    Ok((out, format))
}

fn resize_image(image: &DynamicImage, size: u32) -> Result<DynamicImage, String> {
    // Bilinear, in the image's own colour type (RGB8 for most photos): no conversion pass.
    // `fast_image_resize` has explicit SIMD kernels for wasm `simd128` (and SSE4.1/AVX2
    // natively); the `image` crate's own resize is scalar `f32` and spent more than half of
    // the component's time (and a `roundf` call per channel), see BENCHMARKS.md.
    let mut resized = DynamicImage::new(size, size, image.color());
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    Resizer::new()
        .resize(image, &mut resized, &options)
        .map_err(|e| format!("cannot resize the image: {e}"))?;
    Ok(resized)
}

fn encode(image: &DynamicImage, format: ImageFormat, out: &mut Vec<u8>) -> Result<(), String> {
    let r = match format {
        ImageFormat::Jpeg => {
            // JPEG has no alpha: drop it rather than fail.
            let rgb = match image {
                DynamicImage::ImageRgb8(_) | DynamicImage::ImageLuma8(_) => None,
                other => Some(DynamicImage::ImageRgb8(other.to_rgb8())),
            };
            let image = rgb.as_ref().unwrap_or(image);
            image.write_with_encoder(JpegEncoder::new_with_quality(&mut *out, JPEG_QUALITY))
        }
        _ => image.write_with_encoder(PngEncoder::new(&mut *out)),
    };
    r.map_err(|e| format!("cannot encode the {format:?} image: {e}"))
}

/// Reads `src`, resizes it and writes the result to `dst` (creating its folder).
pub fn resize_file(src: &Path, dst: &Path, size: u32) -> Result<u64, String> {
    let data = fs::read(src).map_err(|e| format!("cannot read {}: {e}", src.display()))?;
    let (out, _) = resize_bytes(&data, size).map_err(|e| format!("{}: {e}", src.display()))?;
    if let Some(dir) = dst.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let file =
        fs::File::create(dst).map_err(|e| format!("cannot create {}: {e}", dst.display()))?;
    let mut w = BufWriter::with_capacity(out.len().max(1), file);
    w.write_all(&out)
        .and_then(|()| w.flush())
        .map_err(|e| format!("cannot write {}: {e}", dst.display()))?;
    Ok(out.len() as u64)
}

/// Every file under `root` whose name ends with one of `extensions` (ignoring case), as
/// paths relative to `root` with `/` separators, sorted: the order the host uses for items.
pub fn list_images(root: &Path, extensions: &[String]) -> Result<Vec<String>, String> {
    let exts: Vec<String> = extensions.iter().map(|e| e.to_lowercase()).collect();
    let mut out = Vec::new();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = pending.pop() {
        let entries =
            fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = match rel.is_empty() {
                true => name.clone(),
                false => format!("{rel}/{name}"),
            };
            let ty = entry
                .file_type()
                .map_err(|e| format!("cannot read {path}: {e}"))?;
            if ty.is_dir() {
                pending.push((entry.path(), path));
            } else if ty.is_file() {
                let lower = name.to_lowercase();
                if exts.is_empty() || exts.iter().any(|e| lower.ends_with(e)) {
                    out.push(path);
                }
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Resizes every image under `src_root` into the same relative path under `dst_root`, in
/// order, stopping at the first failure: the single-instance path (and the native twin).
pub fn resize_tree(
    src_root: &Path,
    dst_root: &Path,
    size: u32,
    extensions: &[String],
) -> Result<u64, String> {
    let images = list_images(src_root, extensions)?;
    for rel in &images {
        resize_file(&src_root.join(rel), &dst_root.join(rel), size)?;
    }
    Ok(images.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbaImage::from_fn(w, h, |x, y| Rgba([x as u8, y as u8, 7, 255]));
        let mut out = Vec::new();
        DynamicImage::ImageRgba8(img)
            .write_with_encoder(PngEncoder::new(&mut out))
            .unwrap();
        out
    }

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| Rgb([x as u8, y as u8, 9]));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_with_encoder(JpegEncoder::new(&mut out))
            .unwrap();
        out
    }

    #[test]
    fn bilinear_keeps_flat_colours_and_the_gradient_direction() {
        // A flat RGB image stays that colour; a left-to-right ramp stays a ramp.
        let flat = DynamicImage::ImageRgb8(RgbImage::from_pixel(300, 120, Rgb([10, 200, 30])));
        let out = resize_image(&flat, 224).unwrap().to_rgb8();
        assert!(out.pixels().all(|p| *p == Rgb([10, 200, 30])));
        let ramp = RgbaImage::from_fn(512, 64, |x, _| Rgba([(x / 2) as u8, 0, 0, 255]));
        let out = resize_image(&DynamicImage::ImageRgba8(ramp), 224)
            .unwrap()
            .to_rgba8();
        let row: Vec<u8> = (0..224).map(|x| out.get_pixel(x, 100).0[0]).collect();
        assert!(row.windows(2).all(|w| w[0] <= w[1]), "{row:?}");
        assert!(row[0] < 5 && row[223] > 250, "{row:?}");
        assert!(out.pixels().all(|p| p.0[3] == 255));
    }

    #[test]
    fn resizes_png_and_jpeg_keeping_the_format() {
        for (data, format) in [
            (png(300, 200), ImageFormat::Png),
            (jpeg(64, 480), ImageFormat::Jpeg),
        ] {
            let (out, f) = resize_bytes(&data, 224).unwrap();
            assert_eq!(f, format);
            let back = image::load_from_memory(&out).unwrap();
            assert_eq!((back.width(), back.height()), (224, 224));
            assert_eq!(image::guess_format(&out).unwrap(), format);
        }
    }

    #[test]
    fn bad_images_are_named_errors() {
        assert!(
            resize_bytes(b"hello", 224)
                .unwrap_err()
                .contains("not a PNG or JPEG")
        );
        let mut cut = png(50, 50);
        cut.truncate(cut.len() / 2);
        assert!(
            resize_bytes(&cut, 224)
                .unwrap_err()
                .contains("cannot decode")
        );
    }

    #[test]
    fn walks_a_tree_in_sorted_order() {
        let dir = std::env::temp_dir().join(format!("premod-resize-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let src = dir.join("src");
        fs::create_dir_all(src.join("b")).unwrap();
        fs::write(src.join("b/2.PNG"), png(10, 10)).unwrap();
        fs::write(src.join("a.jpg"), jpeg(10, 10)).unwrap();
        fs::write(src.join("notes.txt"), b"x").unwrap();
        let exts = vec![".png".to_string(), ".jpg".to_string()];
        assert_eq!(list_images(&src, &exts).unwrap(), ["a.jpg", "b/2.PNG"]);
        assert_eq!(resize_tree(&src, &dir.join("out"), 32, &exts).unwrap(), 2);
        let out = image::open(dir.join("out/b/2.PNG")).unwrap();
        assert_eq!(out.width(), 32);
        fs::remove_dir_all(&dir).unwrap();
    }
}
