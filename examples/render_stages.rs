//! Times each stage of the render pipeline on the given JPEGs (one thread):
//! `cargo run --release --example render_stages -- photo.jpg…`
use std::time::Instant;

use scoot::domain::{ImageFormat, VariantSpec};
use scoot::render::PixelLimits;
use scoot::render::pipeline::{RenderSettings, render};

fn main() {
    let settings = RenderSettings {
        variants: vec![
            VariantSpec::new("thumb", 400),
            VariantSpec::new("display", 1600),
        ],
        jpeg: scoot::render::pipeline::JpegOptions {
            quality: 82,
            progressive: std::env::var("PROGRESSIVE").is_ok(),
            optimize_coding: std::env::var("OPTIMIZE").is_ok(),
        },
        limits: PixelLimits {
            max_pixels: 50_000_000,
            max_side: 16_384,
        },
    };
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).unwrap();
        let t = Instant::now();
        let decoded = scoot::render::jpeg::decode(&bytes, 1600, &settings.limits).unwrap();
        let t_decode = t.elapsed();
        let small = scoot::render::pipeline::Pixels {
            width: 1600,
            height: 1200,
            alpha: false,
            data: decoded
                .pixels
                .data
                .chunks(decoded.pixels.width as usize * 3)
                .take(1200)
                .flat_map(|row| row[..1600 * 3].to_vec())
                .collect(),
        };
        for progressive in [false, true] {
            let options = scoot::render::pipeline::JpegOptions {
                quality: 82,
                progressive,
                optimize_coding: false,
            };
            let mut best = std::time::Duration::MAX;
            let mut len = 0;
            for _ in 0..5 {
                let t = Instant::now();
                len = scoot::render::jpeg::encode(&small, &options).unwrap().len();
                best = best.min(t.elapsed());
            }
            println!("encode 1600x1200 progressive={progressive}: {best:?}, {len} bytes");
        }
        let runs = 10;
        let t = Instant::now();
        for _ in 0..runs {
            render(&bytes, ImageFormat::Jpeg, &settings).unwrap();
        }
        let per = t.elapsed() / runs;
        println!(
            "{path}: decode→{}x{} {:?}; full render {:?} ({:.1}/s)",
            decoded.pixels.width,
            decoded.pixels.height,
            t_decode,
            per,
            1.0 / per.as_secs_f64()
        );
    }
}

#[allow(dead_code)]
fn encode_only() {}
