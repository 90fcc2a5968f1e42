//! JPEG in and out.
//!
//! With the `turbojpeg` feature (the default), libjpeg-turbo 3 does both.
//! Decoding uses shrink-on-load: libjpeg-turbo scales in the DCT domain, so a
//! 12 MP photo destined for a 1600 px variant decodes straight to
//! 2000 × 1500, skipping three quarters of the IDCT, colour conversion and
//! upsampling work, and of the memory. Only the power-of-two factors are
//! used: those have SIMD kernels. Without the feature, the `image` crate
//! decodes at full size and encodes baseline JPEGs (several times slower).
//!
//! Headers (size, orientation, ICC profile, EXIF) are read in place with
//! zune-jpeg's header parser in both cases.

use image::metadata::Orientation;

use super::colour::ToSrgb;
use super::types::{JpegOptions, PixelLimits, Pixels, ProbeError, RenderError};

/// Which JPEG codec this build uses, for logs and benchmarks.
pub const CODEC: &str = if cfg!(feature = "turbojpeg") {
    "libjpeg-turbo 3 (shrink-on-load)"
} else {
    "zune-jpeg + image crate (pure Rust, full-size decode)"
};

/// A decoded JPEG: pixels as stored (not yet oriented) and its metadata.
pub struct DecodedJpeg {
    pub pixels: Pixels,
    pub orientation: Orientation,
    pub icc: Option<Vec<u8>>,
}

pub(super) fn corrupt(msg: impl std::fmt::Display) -> RenderError {
    RenderError::Decode(ProbeError::Corrupt(msg.to_string()))
}

/// The smallest power-of-two DCT scale `n/8` whose output long edge still
/// covers `target`; 8 (no scaling) when nothing smaller does.
pub fn scale_numerator(long_edge: u32, target: u32) -> u8 {
    [1u8, 2, 4]
        .into_iter()
        .find(|&n| (u64::from(long_edge) * u64::from(n)).div_ceil(8) >= u64::from(target))
        .unwrap_or(8)
}

/// What a JPEG's header says, read without decoding any pixels.
pub struct JpegHeader {
    /// As stored (before orientation).
    pub width: u32,
    pub height: u32,
    pub orientation: Orientation,
    pub icc: Option<Vec<u8>>,
    /// As coded: YCbCr, Luma, CMYK or YCCK.
    pub colorspace: zune_core::colorspace::ColorSpace,
    /// The raw EXIF block (TIFF structure).
    pub exif: Option<Vec<u8>>,
}

/// Parses the header (markers up to the first scan) in place, without
/// copying `bytes`; only the markers need to be present.
pub fn read_header(bytes: &[u8]) -> Result<JpegHeader, ProbeError> {
    let mut d = zune_jpeg::JpegDecoder::new(zune_core::bytestream::ZCursor::new(bytes));
    d.decode_headers()
        .map_err(|e| ProbeError::Corrupt(format!("bad JPEG header: {e}")))?;
    let (w, h) = d
        .dimensions()
        .ok_or_else(|| ProbeError::Corrupt("JPEG has no frame header".into()))?;
    let exif = d.exif().cloned();
    let orientation = exif
        .as_deref()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    Ok(JpegHeader {
        width: u32::try_from(w).map_err(|_| ProbeError::Corrupt("absurd width".into()))?,
        height: u32::try_from(h).map_err(|_| ProbeError::Corrupt("absurd height".into()))?,
        orientation,
        icc: d.icc_profile(),
        colorspace: d
            .input_colorspace()
            .ok_or_else(|| ProbeError::Corrupt("JPEG has no frame header".into()))?,
        exif,
    })
}

/// Decodes `bytes` as 8-bit RGB, shrunk on load (where the codec can) so the
/// long edge is still at least `target_long_edge`. `buffer(len)` provides
/// the memory to decode into.
pub fn decode(
    bytes: &[u8],
    target_long_edge: u32,
    limits: &PixelLimits,
    buffer: impl FnOnce(usize) -> Vec<u8>,
) -> Result<DecodedJpeg, RenderError> {
    let header = read_header(bytes)?;
    limits.check(header.width, header.height)?;
    let scale = scale_numerator(header.width.max(header.height), target_long_edge);
    let (pixels, profile_applied) = decode_pixels(bytes, scale, &header, limits, buffer)?;
    Ok(DecodedJpeg {
        pixels,
        orientation: header.orientation,
        icc: header.icc.filter(|_| !profile_applied),
    })
}

/// Decodes to 8-bit RGB; also says whether the embedded profile was applied
/// already (CMYK JPEGs are converted through their CMYK profile here, while
/// the decoder's CMYK is at hand).
#[cfg(feature = "turbojpeg")]
fn decode_pixels(
    bytes: &[u8],
    scale: u8,
    header: &JpegHeader,
    _limits: &PixelLimits,
    buffer: impl FnOnce(usize) -> Vec<u8>,
) -> Result<(Pixels, bool), RenderError> {
    use turbojpeg::{Colorspace, Decompressor, Image, PixelFormat, ScalingFactor};
    let mut d = Decompressor::new().map_err(corrupt)?;
    let coded = d.read_header(bytes).map_err(corrupt)?;
    let factor = ScalingFactor::new(usize::from(scale), 8);
    d.set_scaling_factor(factor).map_err(corrupt)?;
    let scaled = coded.scaled(factor);
    let cmyk = matches!(coded.colorspace, Colorspace::CMYK | Colorspace::YCCK);
    let format = if cmyk {
        PixelFormat::CMYK
    } else {
        PixelFormat::RGB
    };
    let mut data = buffer(scaled.width * scaled.height * format.size());
    let image = Image {
        pixels: &mut data[..],
        width: scaled.width,
        pitch: scaled.width * format.size(),
        height: scaled.height,
        format,
    };
    d.decompress(bytes, image).map_err(corrupt)?;
    let (data, profile_applied) = if cmyk {
        stored_cmyk_to_rgb(data, header.icc.as_deref())?
    } else {
        (data, false)
    };
    let pixels = Pixels {
        width: u32::try_from(scaled.width).map_err(corrupt)?,
        height: u32::try_from(scaled.height).map_err(corrupt)?,
        alpha: false,
        data,
    };
    Ok((pixels, profile_applied))
}

/// Decodes to 8-bit RGB at full size with zune-jpeg (pure Rust, no DCT
/// scaling). CMYK and YCCK JPEGs come out as stored CMYK, as from
/// libjpeg-turbo, so their embedded profile is applied the same way.
#[cfg(not(feature = "turbojpeg"))]
fn decode_pixels(
    bytes: &[u8],
    _scale: u8,
    header: &JpegHeader,
    limits: &PixelLimits,
    buffer: impl FnOnce(usize) -> Vec<u8>,
) -> Result<(Pixels, bool), RenderError> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    let stored = header.colorspace;
    let four = matches!(stored, ColorSpace::CMYK | ColorSpace::YCCK);
    // The output colourspace must be set before the decoder reads the
    // headers: it picks its colour converter then.
    let options = DecoderOptions::default()
        .set_max_width(limits.max_side as usize)
        .set_max_height(limits.max_side as usize)
        .jpeg_set_out_colorspace(if four { stored } else { ColorSpace::RGB });
    let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    d.decode_headers().map_err(corrupt)?;
    let (width, height) = d
        .dimensions()
        .ok_or_else(|| corrupt("JPEG has no frame header"))?;
    let mut data = buffer(width * height * if four { 4 } else { 3 });
    d.decode_into(&mut data).map_err(corrupt)?;
    if stored == ColorSpace::YCCK {
        ycc_to_rgb_in_place(&mut data);
    }
    let (data, profile_applied) = if four {
        stored_cmyk_to_rgb(data, header.icc.as_deref())?
    } else {
        (data, false)
    };
    let pixels = Pixels {
        width: u32::try_from(width).map_err(corrupt)?,
        height: u32::try_from(height).map_err(corrupt)?,
        alpha: false,
        data,
    };
    Ok((pixels, profile_applied))
}

/// YCCK → CMYK, as libjpeg does it: YCCK is CMY taken as 255 − RGB and
/// coded as YCbCr, so the first three channels of each 4-byte pixel go from
/// JFIF YCbCr to RGB and are inverted back to CMY; K stays.
#[cfg(not(feature = "turbojpeg"))]
fn ycc_to_rgb_in_place(ycck: &mut [u8]) {
    for px in ycck.chunks_exact_mut(4) {
        let y = f32::from(px[0]);
        let cb = f32::from(px[1]) - 128.0;
        let cr = f32::from(px[2]) - 128.0;
        let channel = |v: f32| 255 - v.round().clamp(0.0, 255.0) as u8;
        px[0] = channel(y + 1.402 * cr);
        px[1] = channel(y - 0.344_136 * cb - 0.714_136 * cr);
        px[2] = channel(y + 1.772 * cb);
    }
}

/// 4-byte CMYK as a decoder hands it over (stored inverted, as Photoshop
/// writes CMYK JPEGs) → 8-bit RGB: through the embedded CMYK profile when
/// there is a usable one (then also `true`: it has been applied), else
/// the naive way.
fn stored_cmyk_to_rgb(
    mut cmyk: Vec<u8>,
    icc: Option<&[u8]>,
) -> Result<(Vec<u8>, bool), RenderError> {
    let Some(to_srgb) = icc.and_then(ToSrgb::from_cmyk_icc) else {
        return Ok((cmyk_to_rgb(&cmyk), false));
    };
    for v in &mut cmyk {
        *v = 255 - *v;
    }
    let mut rgb = vec![0; cmyk.len() / 4 * 3];
    to_srgb.convert(&cmyk, &mut rgb)?;
    Ok((rgb, true))
}

/// CMYK → RGB for JPEGs as Photoshop writes them (inverted CMYK; YCCK has
/// already been undone by the decoder). A profile-exact conversion needs the
/// embedded CMYK profile; this is the usual fallback.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cmyk.len() / 4 * 3);
    for px in cmyk.chunks_exact(4) {
        let k = u16::from(px[3]);
        for &c in &px[..3] {
            out.push(((u16::from(c) * k + 127) / 255) as u8);
        }
    }
    out
}

/// Encodes 8-bit RGB as a JPEG with 4:2:0 chroma and no metadata at all.
#[cfg(feature = "turbojpeg")]
pub fn encode(p: &Pixels, options: &JpegOptions) -> Result<Vec<u8>, RenderError> {
    use turbojpeg::{Image, PixelFormat};
    let err = |e: turbojpeg::Error| RenderError::Encode(e.to_string());
    let mut c = compressor(options)?;
    let image = Image {
        pixels: &p.data[..],
        width: p.width as usize,
        pitch: p.width as usize * 3,
        height: p.height as usize,
        format: PixelFormat::RGB,
    };
    c.compress_to_vec(image).map_err(err)
}

/// A libjpeg-turbo compressor set up for `options`, writing 4:2:0.
#[cfg(feature = "turbojpeg")]
pub fn compressor(options: &JpegOptions) -> Result<turbojpeg::Compressor, RenderError> {
    let err = |e: turbojpeg::Error| RenderError::Encode(e.to_string());
    let mut c = turbojpeg::Compressor::new().map_err(err)?;
    c.set_quality(i32::from(options.quality)).map_err(err)?;
    c.set_subsamp(turbojpeg::Subsamp::Sub2x2).map_err(err)?;
    c.set_optimize(options.optimize_coding).map_err(err)?;
    c.set_progressive(options.progressive).map_err(err)?;
    Ok(c)
}

/// Encodes 8-bit RGB as a baseline JPEG (the pure-Rust encoder has no
/// progressive mode) with no metadata.
#[cfg(not(feature = "turbojpeg"))]
pub fn encode(p: &Pixels, options: &JpegOptions) -> Result<Vec<u8>, RenderError> {
    use image::ImageEncoder;
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, options.quality)
        .write_image(&p.data, p.width, p.height, image::ExtendedColorType::Rgb8)
        .map_err(|e| RenderError::Encode(e.to_string()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: PixelLimits = PixelLimits {
        max_pixels: 1 << 30,
        max_side: 1 << 15,
        max_frames: 1000,
    };

    #[test]
    fn scale_covers_the_target_with_power_of_two_factors() {
        assert_eq!(scale_numerator(4000, 1600), 4); // 2000
        assert_eq!(scale_numerator(6000, 1600), 4); // 3000
        assert_eq!(scale_numerator(6000, 400), 1); // 750
        assert_eq!(scale_numerator(1800, 1600), 8);
        assert_eq!(scale_numerator(3200, 1600), 4); // exactly 1600
        assert_eq!(scale_numerator(100, 1600), 8);
    }

    #[test]
    fn round_trip_and_shrink_on_load() {
        let img = image::RgbImage::from_fn(640, 480, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let pixels = Pixels {
            width: 640,
            height: 480,
            alpha: false,
            data: img.into_raw(),
        };
        for (progressive, optimize_coding) in [(false, false), (false, true), (true, false)] {
            let options = JpegOptions {
                quality: 85,
                progressive,
                optimize_coding,
            };
            let bytes = encode(&pixels, &options).unwrap();
            let full = decode(&bytes, 640, &LIMITS, |n| vec![0; n]).unwrap();
            assert_eq!((full.pixels.width, full.pixels.height), (640, 480));
            let half = decode(&bytes, 300, &LIMITS, |n| vec![0; n]).unwrap();
            let expected = if cfg!(feature = "turbojpeg") {
                (320, 240)
            } else {
                (640, 480)
            };
            assert_eq!((half.pixels.width, half.pixels.height), expected);
            assert!(half.icc.is_none());
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(
            decode(b"\xFF\xD8\xFF\xE0 nothing here", 100, &LIMITS, |n| vec![
                0;
                n
            ])
            .is_err()
        );
        assert!(decode(b"", 100, &LIMITS, |n| vec![0; n]).is_err());
    }

    #[test]
    fn cmyk_conversion() {
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 255]), vec![255, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[255, 0, 0, 255]), vec![255, 0, 0]);
        assert_eq!(cmyk_to_rgb(&[10, 20, 30, 0]), vec![0, 0, 0]);
    }
}
