//! Precompresses the web assets at build time: for every text asset in
//! `assets/` (CSS, JavaScript, SVG), a Brotli (quality 11) and a gzip
//! (level 9) copy go into `$OUT_DIR/assets-compressed/`, which the binary
//! embeds next to the originals (`src/web/assets.rs`). The slow, best
//! settings cost nothing at run time. A copy that is not smaller is left out.

use std::io::Write;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=assets");
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("assets-compressed");
    std::fs::create_dir_all(&out).expect("create the compressed assets dir");
    let entries = std::fs::read_dir("assets").expect("assets/ exists");
    for entry in entries {
        let path = entry.expect("readable assets/").path();
        let compressible = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("css" | "js" | "svg" | "html" | "txt" | "json")
        );
        if !path.is_file() || !compressible {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 asset names");
        let data = std::fs::read(&path).expect("readable asset");

        let mut br = Vec::new();
        {
            let params = brotli::enc::BrotliEncoderParams {
                quality: 11,
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &data[..], &mut br, &params).expect("brotli");
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&data).expect("gzip");
        let gz = gz.finish().expect("gzip");

        for (ext, bytes) in [("br", br), ("gz", gz)] {
            let target = out.join(format!("{name}.{ext}"));
            if bytes.len() < data.len() {
                std::fs::write(&target, bytes).expect("write compressed asset");
            } else {
                let _ = std::fs::remove_file(&target);
            }
        }
    }
}
