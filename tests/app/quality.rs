//! Speed must not be bought with worse pictures: every variant the fast
//! pipeline makes (shrink-on-load, chained resizes, SIMD Lanczos3) is compared
//! with a slow reference — full decode, orientation, one Lanczos3 resize per
//! size with the `image` crate — by DSSIM (0 = identical).
//!
//! Any variant differs from the reference by its own lossy compression (JPEG
//! or WebP), so the bar is relative: a variant may be at most [`BAR`] times
//! as far from the reference as the reference itself is after the same
//! encoder with the same settings. The
//! README gives the reasoning and the measured values.

use dssim_core::Dssim;
use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};
use scoot::config::RenderConfig;
use scoot::domain::{ImageFormat, OutputFormat};
use scoot::render::PixelLimits;
use scoot::render::pipeline::{RenderSettings, render};

use crate::helpers::read_fixture;

/// How much worse than "perfect resampling, then the same JPEG encoder" a
/// variant may be.
const BAR: f64 = 1.15;

/// Scoot's default variant set and encoder settings.
fn settings() -> RenderSettings {
    let limits = PixelLimits {
        max_pixels: 50_000_000,
        max_side: 16_384,
        max_frames: 1000,
    };
    RenderSettings::from_config(&RenderConfig::default(), limits)
}

fn dssim(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let d = Dssim::new();
    let img = |i: &RgbImage| {
        let px: Vec<rgb::RGB8> = i
            .pixels()
            .map(|p| rgb::RGB8::new(p[0], p[1], p[2]))
            .collect();
        d.create_image_rgb(&px, i.width() as usize, i.height() as usize)
            .unwrap()
    };
    f64::from(d.compare(&img(a), img(b)).0)
}

fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .unwrap();
    out
}

/// `img` through the pipeline's own encoder for `format` and back: the loss
/// any variant in that format has before resampling is even considered.
fn as_variant(img: &RgbImage, format: ImageFormat) -> RgbImage {
    let pixels = scoot::render::pipeline::Pixels {
        width: img.width(),
        height: img.height(),
        alpha: false,
        data: img.as_raw().clone(),
    };
    let output = match format {
        ImageFormat::Webp => OutputFormat::Webp,
        _ => OutputFormat::Jpeg,
    };
    let (_, bytes) = scoot::render::pipeline::encode(&pixels, output, &settings()).unwrap();
    image::load_from_memory(&bytes).unwrap().into_rgb8()
}

/// A camera-sized JPEG: a real photo (a fixture) upscaled to `width`, with
/// mild sensor-like noise for the fine detail upscaling lost (as the
/// benchmark corpus does), encoded at q92 so shrink-on-load has work to do.
fn big_photo(fixture: &str, width: u32) -> Vec<u8> {
    let small = image::load_from_memory(&read_fixture(fixture)).unwrap();
    let height = width * small.height() / small.width();
    let mut big = small
        .resize_exact(width, height, FilterType::Lanczos3)
        .into_rgb8();
    let mut state = 0x2545_f491_u32;
    for v in big.iter_mut() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state % 9) as i16 - 4;
        *v = (i16::from(*v) + noise).clamp(0, 255) as u8;
    }
    jpeg(&big, 92)
}

/// The slow, careful rendering the fast pipeline is held to.
fn reference(original: &[u8], width: u32, height: u32) -> RgbImage {
    let mut decoder =
        image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(original)).unwrap();
    let orientation = image::ImageDecoder::orientation(&mut decoder).unwrap();
    let mut full = DynamicImage::from_decoder(decoder).unwrap();
    full.apply_orientation(orientation);
    full.resize_exact(width, height, FilterType::Lanczos3)
        .into_rgb8()
}

fn check(name: &str, original: &[u8]) {
    let variants = render(original, ImageFormat::Jpeg, &settings())
        .unwrap()
        .variants;
    for v in &variants {
        let ours = image::load_from_memory(&v.bytes).unwrap().into_rgb8();
        let reference = reference(original, v.width, v.height);
        let ours_d = dssim(&reference, &ours);
        let encoder_d = dssim(&reference, &as_variant(&reference, v.format));
        eprintln!(
            "{name} {} {}: DSSIM {ours_d:.5} (the reference through the same encoder: {encoder_d:.5})",
            v.spec.name, v.format
        );
        assert!(
            ours_d <= encoder_d * BAR,
            "{name} {} {}: DSSIM {ours_d:.5} vs {encoder_d:.5} for the reference's own encoding",
            v.spec.name,
            v.format
        );
    }
}

#[test]
fn variants_match_a_slow_lanczos3_reference() {
    // Shrink-on-load at 1/2 (4000 wide) and 1/4 for the thumb; rotated
    // (orientation 6) and mirrored (7) sources; and a small one (no shrink).
    check(
        "landscape 4000",
        &big_photo("orientation/Landscape_1.jpg", 4000),
    );
    check(
        "portrait 3000",
        &big_photo("orientation/Portrait_1.jpg", 3000),
    );
    check("landscape_6", &read_fixture("orientation/Landscape_6.jpg"));
    check("portrait_7", &read_fixture("orientation/Portrait_7.jpg"));
}

#[test]
fn the_bar_catches_a_bad_resize() {
    // A nearest-neighbour downscale is visibly worse; the check must see it.
    let original = big_photo("orientation/Landscape_1.jpg", 4000);
    let reference = reference(&original, 1600, 1067);
    let full = image::load_from_memory(&original).unwrap();
    let nearest = full
        .resize_exact(1600, 1067, FilterType::Nearest)
        .into_rgb8();
    let nearest = as_variant(&nearest, ImageFormat::Jpeg);
    let encoder_d = dssim(&reference, &as_variant(&reference, ImageFormat::Jpeg));
    let bad = dssim(&reference, &nearest);
    eprintln!(
        "nearest-neighbour: DSSIM {bad:.5}, bar {:.5}",
        encoder_d * BAR
    );
    assert!(
        bad > encoder_d * BAR,
        "nearest {bad:.5} vs bar {encoder_d:.5}"
    );
}
