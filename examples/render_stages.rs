//! Times the render pipeline on the given JPEGs on one thread: the decode
//! alone (to RGB, and to YCbCr planes), then whole renders with a reused
//! scratch (as a render worker does).
//! For profiling, e.g. `perf record`:
//!
//!     cargo run --release --example render_stages -- photo.jpg…
//!
//! `PROGRESSIVE=1` / `OPTIMIZE=1` switch the JPEG encoder options,
//! `FORMATS=jpeg` leaves out WebP, `WEBP_EFFORT=N` sets its effort.
use std::time::{Duration, Instant};

use scoot::domain::{ImageFormat, OutputFormat, VariantSpec};
use scoot::render::PixelLimits;
use scoot::render::pipeline::{
    Encodes, JpegOptions, RenderSettings, Scratch, WebpOptions, render_with,
};

fn best_of(runs: u32, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let settings = RenderSettings {
        variants: vec![
            VariantSpec::new("thumb", 400),
            VariantSpec::new("display", 1600),
        ],
        formats: match std::env::var("FORMATS").as_deref() {
            Ok("jpeg") => vec![OutputFormat::Jpeg],
            _ => vec![OutputFormat::Jpeg, OutputFormat::Webp],
        },
        jpeg: JpegOptions {
            quality: 82,
            progressive: std::env::var_os("PROGRESSIVE").is_some(),
            optimize_coding: std::env::var_os("OPTIMIZE").is_some(),
        },
        webp: WebpOptions {
            quality: 80,
            effort: std::env::var("WEBP_EFFORT").map_or(2, |e| e.parse().expect("0..=6")),
        },
        limits: PixelLimits {
            max_pixels: 50_000_000,
            max_side: 16_384,
            max_frames: 1000,
        },
    };
    let mut scratch = Scratch::default();
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("readable file");
        let decode = best_of(5, || {
            scoot::render::jpeg::decode(&bytes, 1600, &settings.limits, |n| vec![0; n]).unwrap();
        });
        #[cfg(feature = "turbojpeg")]
        let planes = format!(
            " (to planes {:.1?})",
            best_of(5, || {
                scoot::render::planes::decode_jpeg(&bytes, 1600, &settings.limits, |n| vec![0; n])
                    .unwrap();
            })
        );
        #[cfg(not(feature = "turbojpeg"))]
        let planes = "";
        let render = best_of(10, || {
            render_with(
                &mut scratch,
                &bytes,
                ImageFormat::Jpeg,
                &settings,
                Encodes::InTurn,
            )
            .unwrap();
        });
        let sizes: Vec<String> = render_with(
            &mut scratch,
            &bytes,
            ImageFormat::Jpeg,
            &settings,
            Encodes::InTurn,
        )
        .unwrap()
        .variants
        .iter()
        .map(|v| format!("{} {:?} {} B", v.spec.name, v.format, v.bytes.len()))
        .collect();
        println!(
            "{path}: decode {decode:.1?}{planes}, render {render:.1?} ({:.1}/s); {}",
            1.0 / render.as_secs_f64(),
            sizes.join(", ")
        );
    }
}
