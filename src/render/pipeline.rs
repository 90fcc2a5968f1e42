//! The render pipeline: original bytes in, variant bytes out.
//!
//! Decode once — JPEGs through libjpeg-turbo with shrink-on-load (see
//! [`super::jpeg`]), other formats with the `image` crate under its limits —
//! apply EXIF orientation and the embedded colour profile, then resize each
//! variant with a SIMD Lanczos3 resizer, largest first, each smaller size
//! resized from the previous one, and encode it in each configured format with all metadata stripped (we
//! only ever encode raw pixels): JPEG — or PNG when the source has an alpha
//! channel, so transparency survives — and WebP (libwebp, lossy, with alpha).
//! The smallest size also gives the photo's ThumbHash placeholder.
//!
//! JPEGs without a colour profile take a shorter way through the same loop
//! (`Raster` is what it needs of an image): they stay YCbCr planes from
//! decoder to encoder ([`super::planes`]), which saves the colour
//! conversions and leaves half the bytes to resize.
//!
//! Architecture invariant: this module touches no database, store, cache or
//! network. It is deterministic: the same bytes and settings give the same
//! output bytes (docs/architecture.md invariant 4).

use std::io::Cursor;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions};
use image::codecs::png::PngEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageReader};

use super::colour::ToSrgb;
use super::jpeg;
use super::probe::{PixelLimits, ProbeError, refusal, to_image_format};
pub use super::types::{Encodes, JpegOptions, Pixels, RenderError, Scratch, WebpOptions};
use super::variants;
use crate::config::RenderConfig;
use crate::domain::{ImageFormat, OutputFormat, VariantSpec};

/// What the pipeline needs to know; nothing else.
#[derive(Debug, Clone)]
pub struct RenderSettings {
    pub variants: Vec<VariantSpec>,
    /// Every size is written in each of these formats.
    pub formats: Vec<OutputFormat>,
    pub jpeg: JpegOptions,
    pub webp: WebpOptions,
    pub limits: PixelLimits,
}

impl RenderSettings {
    /// The long edge of the biggest variant: what a decode must cover.
    pub fn largest_edge(&self) -> u32 {
        self.variants.iter().map(|v| v.long_edge).max().unwrap_or(0)
    }

    /// What the configured render section asks for, under `limits`.
    pub fn from_config(render: &RenderConfig, limits: PixelLimits) -> Self {
        Self {
            variants: render.variants.clone(),
            formats: render.formats.clone(),
            jpeg: JpegOptions {
                quality: render.jpeg_quality,
                progressive: render.jpeg_progressive,
                optimize_coding: render.jpeg_optimize_coding,
            },
            webp: WebpOptions {
                quality: render.webp_quality,
                effort: render.webp_effort,
            },
            limits,
        }
    }

    /// Names the encoder settings in a variant's storage key, so a change
    /// of settings gives new keys (and URLs) instead of stale bytes.
    pub fn encoding_tag(&self, format: ImageFormat) -> String {
        match format {
            ImageFormat::Jpeg => self.jpeg.tag(),
            ImageFormat::Webp => self.webp.tag(),
            ImageFormat::Png | ImageFormat::Gif => "lossless".into(),
        }
    }
}

/// One encoded variant.
#[derive(Debug, Clone)]
pub struct RenderedVariant {
    pub spec: VariantSpec,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
}

/// Everything a render makes.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub variants: Vec<RenderedVariant>,
    /// A ThumbHash of the photo: a blurred preview in ~25 bytes.
    pub thumbhash: Vec<u8>,
}

/// A generous estimate of the memory one render of an original of
/// `width` × `height` pixels and `byte_size` bytes takes at its peak: the
/// original's bytes, the decoded image (shrunk on load for JPEG, up to 16-bit
/// RGBA plus its 8-bit conversion otherwise), a rotated copy, and the
/// largest variant with the resizer's intermediate rows.
pub fn memory_estimate(
    width: u32,
    height: u32,
    byte_size: u64,
    format: ImageFormat,
    settings: &RenderSettings,
) -> u64 {
    let largest = settings.largest_edge();
    let (w, h) = (u64::from(width), u64::from(height));
    let decoded = match format {
        ImageFormat::Jpeg if cfg!(feature = "turbojpeg") => {
            let n = u64::from(jpeg::scale_numerator(width.max(height), largest));
            w.saturating_mul(n).div_ceil(8) * h.saturating_mul(n).div_ceil(8) * 3
        }
        ImageFormat::Jpeg => w * h * 3,
        _ => w * h * (8 + 4),
    };
    let variant = {
        let (vw, vh) = VariantSpec::new("largest", largest).fit(width, height);
        u64::from(vw) * u64::from(vh) * 4 * 2
    };
    byte_size + decoded * 2 + variant + (4 << 20)
}

/// Renders every variant in `settings` from an original's bytes.
pub fn render(
    original: &[u8],
    format: ImageFormat,
    settings: &RenderSettings,
) -> Result<Rendered, RenderError> {
    render_with(
        &mut Scratch::default(),
        original,
        format,
        settings,
        Encodes::Shared,
    )
}

/// [`render`], reusing a worker's [`Scratch`] buffers, its encodes run as
/// `encodes` says (in the current rayon pool).
pub fn render_with(
    scratch: &mut Scratch,
    original: &[u8],
    format: ImageFormat,
    settings: &RenderSettings,
    encodes: Encodes,
) -> Result<Rendered, RenderError> {
    let largest = settings.largest_edge();
    #[cfg(feature = "turbojpeg")]
    if format == ImageFormat::Jpeg
        && let Some((planes, orientation)) =
            super::planes::decode_jpeg(original, largest, &settings.limits, |len| {
                scratch.buffer(len)
            })?
    {
        let planes = planes.orient(scratch, orientation);
        return variants::render_sizes(scratch, planes, settings, encodes);
    }
    let (source, icc) = match format {
        ImageFormat::Jpeg => {
            let decoded = jpeg::decode(original, largest, &settings.limits, |len| {
                scratch.buffer(len)
            })?;
            (orient(decoded.pixels, decoded.orientation), decoded.icc)
        }
        _ => decode(original, format, &settings.limits)?,
    };
    let source = match icc.and_then(|icc| ToSrgb::from_icc(&icc, source.alpha)) {
        Some(to_srgb) => {
            let mut srgb = scratch.buffer(source.data.len());
            to_srgb.apply(&source, &mut srgb)?;
            let converted = Pixels {
                width: source.width,
                height: source.height,
                alpha: source.alpha,
                data: srgb,
            };
            scratch.keep(source.data);
            converted
        }
        None => source,
    };
    variants::render_sizes(scratch, source, settings, encodes)
}

/// [`render_with`] from planes already decoded, shrunk on load for
/// `settings` (by the upload's check: `super::predecoded`), with
/// `orientation` still to apply: the same variants, without decoding again.
#[cfg(feature = "turbojpeg")]
pub fn render_planes(
    scratch: &mut Scratch,
    planes: super::planes::Planes,
    orientation: image::metadata::Orientation,
    settings: &RenderSettings,
    encodes: Encodes,
) -> Result<Rendered, RenderError> {
    let planes = planes.orient(scratch, orientation);
    variants::render_sizes(scratch, planes, settings, encodes)
}

/// Full decode with the `image` crate: oriented 8-bit pixels and the
/// embedded ICC profile, if any.
fn decode(
    original: &[u8],
    format: ImageFormat,
    limits: &PixelLimits,
) -> Result<(Pixels, Option<Vec<u8>>), RenderError> {
    let mut reader = ImageReader::with_format(Cursor::new(original), to_image_format(format));
    reader.limits(limits.decoder_limits());
    let mut decoder = reader.into_decoder().map_err(refusal)?;
    let (w, h) = decoder.dimensions();
    // The upload was checked already; check again in case limits shrank.
    let pixels = u64::from(w) * u64::from(h);
    if pixels > limits.max_pixels || w > limits.max_side || h > limits.max_side {
        return Err(ProbeError::TooLarge {
            width: w,
            height: h,
            limits: *limits,
        }
        .into());
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let icc = decoder.icc_profile().ok().flatten();
    let mut image = DynamicImage::from_decoder(decoder).map_err(refusal)?;
    image.apply_orientation(orientation);
    let (width, height) = (image.width(), image.height());
    let alpha = image.color().has_alpha();
    let data = if alpha {
        image.into_rgba8().into_raw()
    } else {
        image.into_rgb8().into_raw()
    };
    Ok((
        Pixels {
            width,
            height,
            alpha,
            data,
        },
        icc,
    ))
}

pub(super) fn resize(
    scratch: &mut Scratch,
    src: &Pixels,
    w: u32,
    h: u32,
) -> Result<Pixels, RenderError> {
    let err = |e: &dyn std::fmt::Display| RenderError::Resize(e.to_string());
    let mut data = scratch.buffer(w as usize * h as usize * src.pixel_type().size());
    if (w, h) == (src.width, src.height) {
        data.copy_from_slice(&src.data);
        return Ok(Pixels { data, ..*src });
    }
    let view =
        ImageRef::new(src.width, src.height, &src.data, src.pixel_type()).map_err(|e| err(&e))?;
    let mut dst = Image::from_vec_u8(w, h, data, src.pixel_type()).map_err(|e| err(&e))?;
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    scratch
        .resizer
        .resize(&view, &mut dst, &options)
        .map_err(|e| err(&e))?;
    Ok(Pixels {
        width: w,
        height: h,
        alpha: src.alpha,
        data: dst.into_vec(),
    })
}

/// Applies an EXIF orientation to decoded pixels.
fn orient(p: Pixels, orientation: Orientation) -> Pixels {
    if orientation == Orientation::NoTransforms {
        return p;
    }
    let (w, h, alpha) = (p.width, p.height, p.alpha);
    let mut image = if alpha {
        image::RgbaImage::from_raw(w, h, p.data).map(DynamicImage::ImageRgba8)
    } else {
        image::RgbImage::from_raw(w, h, p.data).map(DynamicImage::ImageRgb8)
    }
    .expect("pixel buffer matches its size");
    image.apply_orientation(orientation);
    Pixels {
        width: image.width(),
        height: image.height(),
        alpha,
        data: image.into_bytes(),
    }
}

/// Encodes pixels as one variant in `output`, with the settings' options.
pub fn encode(
    p: &Pixels,
    output: OutputFormat,
    settings: &RenderSettings,
) -> Result<(ImageFormat, Vec<u8>), RenderError> {
    match output {
        OutputFormat::Jpeg if !p.alpha => Ok((ImageFormat::Jpeg, jpeg::encode(p, &settings.jpeg)?)),
        OutputFormat::Jpeg => {
            let mut bytes = Vec::new();
            PngEncoder::new(&mut bytes)
                .write_image(&p.data, p.width, p.height, ExtendedColorType::Rgba8)
                .map_err(|e| RenderError::Encode(e.to_string()))?;
            Ok((ImageFormat::Png, bytes))
        }
        OutputFormat::Webp => Ok((ImageFormat::Webp, encode_webp(p, &settings.webp)?)),
    }
}

fn encode_webp(p: &Pixels, options: &WebpOptions) -> Result<Vec<u8>, RenderError> {
    let layout = if p.alpha {
        webp::PixelLayout::Rgba
    } else {
        webp::PixelLayout::Rgb
    };
    let encoded = webp::Encoder::new(&p.data, layout, p.width, p.height)
        .encode_advanced(&options.config()?)
        .map_err(|e| RenderError::Encode(format!("WebP: {e:?}")))?;
    Ok(encoded.to_vec())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Small sizes, JPEG only; other tests take what they change.
    pub(in crate::render) fn settings() -> RenderSettings {
        RenderSettings {
            variants: vec![
                VariantSpec::new("thumb", 40),
                VariantSpec::new("display", 160),
            ],
            formats: vec![OutputFormat::Jpeg],
            jpeg: JpegOptions {
                quality: 82,
                progressive: false,
                optimize_coding: false,
            },
            webp: WebpOptions {
                quality: 80,
                effort: 2,
            },
            limits: PixelLimits {
                max_pixels: 50_000_000,
                max_side: 16_384,
                max_frames: 1000,
            },
        }
    }

    /// `scoot check` judges a photo's variants by the formats
    /// [`OutputFormat::written_as`] lists: they must be what `encode`
    /// writes, with alpha and without.
    #[test]
    fn each_output_is_written_in_a_format_it_lists() {
        let settings = settings();
        for alpha in [false, true] {
            let channels = if alpha { 4 } else { 3 };
            let pixels = Pixels {
                width: 8,
                height: 8,
                alpha,
                data: vec![128; 8 * 8 * channels],
            };
            for output in [OutputFormat::Jpeg, OutputFormat::Webp] {
                let (format, _) = encode(&pixels, output, &settings).unwrap();
                assert!(
                    output.written_as().contains(&format),
                    "{output:?} with alpha {alpha} was written as {format:?}"
                );
            }
        }
    }

    fn png(img: DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn renders_each_size_without_upscaling() {
        let src = png(DynamicImage::ImageRgb8(image::RgbImage::from_fn(
            300,
            100,
            |x, _| image::Rgb([(x % 256) as u8, 80, 160]),
        )));
        let out = render(&src, ImageFormat::Png, &settings())
            .unwrap()
            .variants;
        let sizes: Vec<_> = out
            .iter()
            .map(|v| (v.spec.name.as_str(), v.width, v.height, v.format))
            .collect();
        assert_eq!(
            sizes,
            [
                ("display", 160, 53, ImageFormat::Jpeg),
                ("thumb", 40, 13, ImageFormat::Jpeg)
            ]
        );
        let small = png(DynamicImage::ImageRgb8(image::RgbImage::new(20, 10)));
        let out = render(&small, ImageFormat::Png, &settings())
            .unwrap()
            .variants;
        assert!(out.iter().all(|v| (v.width, v.height) == (20, 10)));
    }

    #[test]
    fn alpha_is_kept_as_png() {
        let src = png(DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            64,
            64,
            image::Rgba([255, 0, 0, 0]),
        )));
        let out = render(&src, ImageFormat::Png, &settings())
            .unwrap()
            .variants;
        assert!(out.iter().all(|v| v.format == ImageFormat::Png));
        let thumb = image::load_from_memory(&out[1].bytes).unwrap().into_rgba8();
        assert_eq!(
            thumb.get_pixel(5, 5).0[3],
            0,
            "transparent stays transparent"
        );
    }

    #[test]
    fn output_is_deterministic() {
        let src = png(DynamicImage::ImageRgb8(image::RgbImage::from_fn(
            200,
            150,
            |x, y| image::Rgb([(x * y % 256) as u8, x as u8, y as u8]),
        )));
        let a = render(&src, ImageFormat::Png, &settings()).unwrap();
        let b = render(&src, ImageFormat::Png, &settings()).unwrap();
        assert!(
            a.variants
                .iter()
                .zip(&b.variants)
                .all(|(a, b)| a.bytes == b.bytes)
        );
        assert_eq!(a.thumbhash, b.thumbhash);
    }

    #[test]
    fn reused_scratch_gives_the_same_bytes() {
        let big = png(DynamicImage::ImageRgb8(image::RgbImage::from_fn(
            500,
            300,
            |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 7]),
        )));
        let small = png(DynamicImage::ImageRgb8(image::RgbImage::from_fn(
            120,
            90,
            |x, y| image::Rgb([(x * 2) as u8, 200, (y * 2) as u8]),
        )));
        let mut scratch = Scratch::default();
        for src in [&big, &small, &big] {
            let fresh = render(src, ImageFormat::Png, &settings()).unwrap().variants;
            let reused = render_with(
                &mut scratch,
                src,
                ImageFormat::Png,
                &settings(),
                Encodes::InTurn,
            )
            .unwrap()
            .variants;
            assert!(fresh.iter().zip(&reused).all(|(a, b)| a.bytes == b.bytes));
        }
    }

    #[test]
    fn the_thumbhash_resembles_the_photo() {
        let src = png(DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            300,
            200,
            image::Rgb([200, 40, 40]),
        )));
        let hash = render(&src, ImageFormat::Png, &settings())
            .unwrap()
            .thumbhash;
        assert!(hash.len() < 40, "{} bytes", hash.len());
        let (r, g, b, a) = thumbhash::thumb_hash_to_average_rgba(&hash).unwrap();
        assert!(
            (r - 0.78).abs() < 0.05 && g < 0.25 && b < 0.25 && a > 0.99,
            "{r} {g} {b} {a}"
        );
        let ratio = thumbhash::thumb_hash_to_approximate_aspect_ratio(&hash).unwrap();
        assert!((ratio - 1.5).abs() < 0.2, "{ratio}");
    }

    #[test]
    fn jpegs_with_unusual_sampling_render() {
        // cjpeg -sample 2x1,1x2,1x1 of a 64 × 48 test card.
        let odd = include_bytes!("../../tests/fixtures/sampling/y2x1-cb1x2-cr1x1.jpg");
        let out = render(odd, ImageFormat::Jpeg, &settings())
            .unwrap()
            .variants;
        let thumb = image::load_from_memory(&out[1].bytes).unwrap().into_rgb8();
        assert_eq!(thumb.dimensions(), (40, 30));
        // Left third dark blue, the rest light: colours survived.
        assert!(
            thumb.get_pixel(2, 15).0[2] < 90,
            "{:?}",
            thumb.get_pixel(2, 15)
        );
        assert!(
            thumb.get_pixel(37, 15).0[2] > 150,
            "{:?}",
            thumb.get_pixel(37, 15)
        );
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let err = render(b"\xFF\xD8\xFF\xE0garbage", ImageFormat::Jpeg, &settings()).unwrap_err();
        assert!(matches!(err, RenderError::Decode(_)));
    }
}
