//! YCbCr planes: the short way from a JPEG to JPEG variants.
//!
//! A JPEG holds YCbCr, its chroma usually at half the resolution (4:2:0),
//! and a JPEG variant is 4:2:0 YCbCr again. So when a JPEG needs no colour
//! management (no embedded profile) libjpeg-turbo hands over its planes,
//! still shrunk on load, and the planes are resized apart: the luma to the
//! variant's size, Cb and Cr (together, as one two-channel image) straight
//! to the variant's 4:2:0 chroma size — half the bytes of RGB. The encoder
//! takes the planes as they are. Neither the decoder's colour conversion nor
//! the encoder's conversion and downsampling run. WebP variants take them
//! too, moved into VP8's range ([`super::webp_planes`]); the ThumbHash
//! wants RGB, which the `yuv` crate converts from the smallest size.
//!
//! Resizing luma and chroma separately is the same as resizing RGB: YCbCr
//! is an affine function of the same gamma-encoded RGB, and a resize is a
//! linear filter. Chroma samples are taken to cover the image edge to edge.
//!
//! Layout, as libjpeg-turbo's planar YUV with rows unpadded: one buffer, the
//! luma plane first — its width and height padded to a multiple of the
//! subsampling (an odd-sized 4:2:0 image has one more column and row,
//! copies of the last) — then Cb and Cr. Greyscale JPEGs have luma only.

use fast_image_resize::images::{CroppedImageMut, Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions};
use image::metadata::Orientation;
use turbojpeg::{Colorspace, Decompressor, ScalingFactor, Subsamp, YuvImage};

use super::jpeg::{self, corrupt};
use super::types::{JpegOptions, PixelLimits, Pixels, RenderError, Scratch, WebpOptions};
use super::webp_planes;

/// A YCbCr (or greyscale) image as separate planes.
pub struct Planes {
    /// The image's size; the luma plane may be a pixel wider and taller.
    pub width: u32,
    pub height: u32,
    subsamp: Subsamp,
    data: Vec<u8>,
}

fn tj_err(e: turbojpeg::Error) -> RenderError {
    RenderError::Encode(e.to_string())
}

/// The width and height of plane `component` (0 luma, 1 and 2 chroma) of
/// an image of `width` × `height` under `subsamp`, as libjpeg-turbo lays
/// them out: luma padded to whole chroma samples.
fn plane_size(component: usize, width: u32, height: u32, subsamp: Subsamp) -> (u32, u32) {
    let (h, v) = (
        subsamp.mcu_width() as u32 / 8,
        subsamp.mcu_height() as u32 / 8,
    );
    let (w, ht) = (width.div_ceil(h), height.div_ceil(v));
    if component == 0 {
        (w * h, ht * v)
    } else {
        (w, ht)
    }
}

/// Decodes a JPEG as YCbCr planes, shrunk on load like [`jpeg::decode`], with
/// the orientation still to apply; `None` when the JPEG needs the RGB path
/// (an embedded profile, CMYK, or sampling with no planar layout: see
/// [`decode`]).
pub fn decode_jpeg(
    bytes: &[u8],
    target_long_edge: u32,
    limits: &PixelLimits,
    buffer: impl FnOnce(usize) -> Vec<u8>,
) -> Result<Option<(Planes, Orientation)>, RenderError> {
    let header = jpeg::read_header(bytes)?;
    limits.check(header.width, header.height)?;
    if header.icc.is_some() {
        return Ok(None);
    }
    let scale = jpeg::scale_numerator(header.width.max(header.height), target_long_edge);
    let planes = decode(bytes, scale, buffer)?;
    Ok(planes.map(|p| (p, header.orientation)))
}

/// Decodes a JPEG to planes at DCT scale `scale`/8, or `None` when it is
/// coded as something else (CMYK, YCCK, RGB) or sampled in a way
/// with no planar layout.
pub fn decode(
    bytes: &[u8],
    scale: u8,
    buffer: impl FnOnce(usize) -> Vec<u8>,
) -> Result<Option<Planes>, RenderError> {
    let mut d = Decompressor::new().map_err(corrupt)?;
    let coded = d.read_header(bytes).map_err(corrupt)?;
    // Sampling factors TurboJPEG has no name for have no planar layout;
    // libjpeg-turbo still decodes them to RGB.
    let planar = matches!(coded.colorspace, Colorspace::YCbCr | Colorspace::Gray)
        && coded.subsamp != Subsamp::Unknown;
    if !planar {
        return Ok(None);
    }
    let factor = ScalingFactor::new(usize::from(scale), 8);
    d.set_scaling_factor(factor).map_err(corrupt)?;
    let scaled = coded.scaled(factor);
    let len = turbojpeg::yuv_pixels_len(scaled.width, 1, scaled.height, coded.subsamp)
        .map_err(corrupt)?;
    let mut data = buffer(len);
    let image = YuvImage {
        pixels: &mut data[..],
        width: scaled.width,
        align: 1,
        height: scaled.height,
        subsamp: coded.subsamp,
    };
    d.decompress_to_yuv(bytes, image).map_err(corrupt)?;
    Ok(Some(Planes {
        width: u32::try_from(scaled.width).map_err(corrupt)?,
        height: u32::try_from(scaled.height).map_err(corrupt)?,
        subsamp: coded.subsamp,
        data,
    }))
}

impl Planes {
    /// The bytes the planes take.
    pub fn byte_len(&self) -> usize {
        self.data.len()
    }

    fn components(&self) -> usize {
        if self.subsamp == Subsamp::Gray { 1 } else { 3 }
    }

    /// Each plane's bytes with its width and height.
    fn planes(&self) -> Vec<(&[u8], u32, u32)> {
        let mut rest = &self.data[..];
        (0..self.components())
            .map(|c| {
                let (w, h) = plane_size(c, self.width, self.height, self.subsamp);
                let (plane, after) = rest.split_at((w * h) as usize);
                rest = after;
                (plane, w, h)
            })
            .collect()
    }

    /// The subsampling variants are written with: 4:2:0, or greyscale.
    fn output_subsamp(&self) -> Subsamp {
        if self.subsamp == Subsamp::Gray {
            Subsamp::Gray
        } else {
            Subsamp::Sub2x2
        }
    }

    /// Resizes to `width` × `height` (Lanczos3), as 4:2:0 (or greyscale).
    pub fn resize(
        &self,
        scratch: &mut Scratch,
        width: u32,
        height: u32,
    ) -> Result<Self, RenderError> {
        let subsamp = self.output_subsamp();
        let len = turbojpeg::yuv_pixels_len(width as usize, 1, height as usize, subsamp)
            .map_err(|e| resize_error(&e))?;
        let mut data = scratch.buffer(len);
        let planes = self.planes();
        let (dw, dh) = plane_size(0, width, height, subsamp);
        let (luma, chroma) = data.split_at_mut((dw * dh) as usize);
        // Luma: from the image part of one padded plane to that of another.
        let (src, sw, sh) = planes[0];
        let from = (sw, sh, self.width, self.height);
        let to = (dw, dh, width, height);
        resize_plane(scratch, PixelType::U8, src, from, luma, to)?;
        pad(luma, dw, dh, width, height);
        if let [_, (cb, cw, ch), (cr, _, _)] = planes[..] {
            // Cb and Cr side by side as one two-channel image: one set of
            // filter weights for both, and wider SIMD than one channel.
            let mut pair = scratch.buffer(cb.len() * 2);
            for ((p, &b), &r) in pair.chunks_exact_mut(2).zip(cb).zip(cr) {
                p[0] = b;
                p[1] = r;
            }
            let (dw, dh) = plane_size(1, width, height, subsamp);
            let mut out = scratch.buffer((dw * dh * 2) as usize);
            let result = resize_plane(
                scratch,
                PixelType::U8x2,
                &pair,
                (cw, ch, cw, ch),
                &mut out,
                (dw, dh, dw, dh),
            );
            let (dst_cb, dst_cr) = chroma.split_at_mut((dw * dh) as usize);
            for ((p, b), r) in out.chunks_exact(2).zip(dst_cb).zip(dst_cr) {
                *b = p[0];
                *r = p[1];
            }
            scratch.keep(pair);
            scratch.keep(out);
            result?;
        }
        Ok(Self {
            width,
            height,
            subsamp,
            data,
        })
    }

    /// Applies an EXIF orientation, plane by plane.
    pub fn orient(self, scratch: &mut Scratch, orientation: Orientation) -> Self {
        if orientation == Orientation::NoTransforms {
            return self;
        }
        // Each plane cropped to the image, turned, and laid out again.
        let turned: Vec<image::GrayImage> = self
            .planes()
            .into_iter()
            .enumerate()
            .map(|(c, (plane, w, h))| {
                let (iw, ih) = if c == 0 {
                    (self.width, self.height)
                } else {
                    (w, h)
                };
                let rows = plane.chunks_exact(w as usize).take(ih as usize);
                let tight: Vec<u8> = rows.flat_map(|r| &r[..iw as usize]).copied().collect();
                let img = image::GrayImage::from_raw(iw, ih, tight).expect("plane holds the image");
                let mut img = image::DynamicImage::ImageLuma8(img);
                img.apply_orientation(orientation);
                img.into_luma8()
            })
            .collect();
        let (width, height) = turned[0].dimensions();
        // Subsampling turns with the picture (4:2:2 becomes 4:4:0).
        let swapped = width != self.width;
        let subsamp = match (self.subsamp, swapped) {
            (Subsamp::Sub2x1, true) => Subsamp::Sub1x2,
            (Subsamp::Sub1x2, true) => Subsamp::Sub2x1,
            (Subsamp::Sub4x1, true) => Subsamp::Sub1x4,
            (Subsamp::Sub1x4, true) => Subsamp::Sub4x1,
            (s, _) => s,
        };
        let len = turbojpeg::yuv_pixels_len(width as usize, 1, height as usize, subsamp)
            .expect("a size that was valid turned");
        let mut data = scratch.buffer(len);
        let mut rest = &mut data[..];
        for (c, img) in turned.iter().enumerate() {
            let (pw, ph) = plane_size(c, width, height, subsamp);
            let (dst, after) = rest.split_at_mut((pw * ph) as usize);
            rest = after;
            let (iw, ih) = img.dimensions();
            for (y, row) in img.as_raw().chunks_exact(iw as usize).enumerate() {
                dst[y * pw as usize..][..iw as usize].copy_from_slice(row);
            }
            pad(dst, pw, ph, iw, ih);
        }
        scratch.keep(self.data);
        Self {
            width,
            height,
            subsamp,
            data,
        }
    }

    /// Encodes the planes as a JPEG (no metadata).
    pub fn encode_jpeg(&self, options: &JpegOptions) -> Result<Vec<u8>, RenderError> {
        let mut c = jpeg::compressor(options)?;
        let planes = self.planes();
        if let [(y, stride, _)] = planes[..] {
            // Greyscale: one component, as from a grey pixel buffer.
            c.set_subsamp(Subsamp::Gray).map_err(tj_err)?;
            let image = turbojpeg::Image {
                pixels: y,
                width: self.width as usize,
                pitch: stride as usize,
                height: self.height as usize,
                format: turbojpeg::PixelFormat::GRAY,
            };
            return c.compress_to_vec(image).map_err(tj_err);
        }
        let image = turbojpeg::YuvPlanesImage {
            y_plane: planes[0].0,
            u_plane: planes[1].0,
            v_plane: planes[2].0,
            width: self.width as usize,
            height: self.height as usize,
            y_stride: planes[0].1 as usize,
            u_stride: planes[1].1 as usize,
            v_stride: planes[2].1 as usize,
            subsamp: self.subsamp,
        };
        c.compress_yuv_planes_to_vec(&image).map_err(tj_err)
    }

    /// Encodes the planes as a lossy WebP, handing libwebp the 4:2:0 planes
    /// as they are ([`super::webp_planes`]).
    pub fn encode_webp(&self, options: &WebpOptions) -> Result<Vec<u8>, RenderError> {
        let (luma, chroma) = match (self.subsamp, &self.planes()[..]) {
            (Subsamp::Gray, &[(y, y_stride, _)]) => ((y, y_stride), None),
            (Subsamp::Sub2x2, &[(y, y_stride, _), (u, u_stride, _), (v, v_stride, _)]) => {
                ((y, y_stride), Some(((u, u_stride), (v, v_stride))))
            }
            (other, _) => {
                return Err(RenderError::Encode(format!("no WebP for {other:?} planes")));
            }
        };
        webp_planes::encode(self.width, self.height, luma, chroma, options)
    }

    /// The same image as 8-bit RGB (JPEG's full-range BT.601 YCbCr).
    pub fn to_rgb(&self, scratch: &mut Scratch) -> Result<Pixels, RenderError> {
        use yuv::{YuvGrayImage, YuvPlanarImage, YuvRange, YuvStandardMatrix};
        let err = |e: yuv::YuvError| RenderError::Colour(e.to_string());
        let (width, height) = (self.width, self.height);
        let mut data = scratch.buffer(width as usize * height as usize * 3);
        let (range, matrix) = (YuvRange::Full, YuvStandardMatrix::Bt601);
        match (self.subsamp, &self.planes()[..]) {
            (Subsamp::Gray, &[(y, y_stride, _)]) => {
                let image = YuvGrayImage {
                    y_plane: y,
                    y_stride,
                    width,
                    height,
                };
                yuv::yuv400_to_rgb(&image, &mut data, width * 3, range, matrix).map_err(err)?;
            }
            (Subsamp::Sub2x2, &[(y, y_stride, _), (u, u_stride, _), (v, v_stride, _)]) => {
                let image = YuvPlanarImage {
                    y_plane: y,
                    y_stride,
                    u_plane: u,
                    u_stride,
                    v_plane: v,
                    v_stride,
                    width,
                    height,
                };
                yuv::yuv420_to_rgb(&image, &mut data, width * 3, range, matrix).map_err(err)?;
            }
            (other, _) => {
                return Err(RenderError::Colour(format!("no RGB for {other:?} planes")));
            }
        }
        Ok(Pixels {
            width,
            height,
            alpha: false,
            data,
        })
    }

    /// Hands the buffer back for the next image.
    pub fn recycle(self, scratch: &mut Scratch) {
        scratch.keep(self.data);
    }
}

fn resize_error(e: &dyn std::fmt::Display) -> RenderError {
    RenderError::Resize(e.to_string())
}

/// Resizes the `w` × `h` top-left part of a `pw` × `ph` plane (`from`) into
/// the top-left part of another (`to`), Lanczos3.
fn resize_plane(
    scratch: &mut Scratch,
    pixel: PixelType,
    src: &[u8],
    from: (u32, u32, u32, u32),
    dst: &mut [u8],
    to: (u32, u32, u32, u32),
) -> Result<(), RenderError> {
    let (pw, ph, w, h) = from;
    let view = ImageRef::new(pw, ph, src, pixel).map_err(|e| resize_error(&e))?;
    let (pw, ph, tw, th) = to;
    let mut plane = Image::from_slice_u8(pw, ph, dst, pixel).map_err(|e| resize_error(&e))?;
    let mut target =
        CroppedImageMut::new(&mut plane, 0, 0, tw, th).map_err(|e| resize_error(&e))?;
    // Two channels are Cb and Cr, not luma and alpha: no premultiplying.
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .use_alpha(false)
        .crop(0.0, 0.0, f64::from(w), f64::from(h));
    scratch
        .resizer
        .resize(&view, &mut target, &options)
        .map_err(|e| resize_error(&e))
}

/// Fills the padding of a `pw` × `ph` plane around its `w` × `h` image with
/// copies of the last column and row, as a JPEG encoder pads.
fn pad(plane: &mut [u8], pw: u32, ph: u32, w: u32, h: u32) {
    let (pw, ph, w, h) = (pw as usize, ph as usize, w as usize, h as usize);
    if w < pw {
        for row in plane.chunks_exact_mut(pw).take(h) {
            let last = row[w - 1];
            row[w..].fill(last);
        }
    }
    for y in h..ph {
        plane.copy_within((h - 1) * pw..h * pw, y * pw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OutputFormat;
    use crate::render::pipeline::{self, RenderSettings};
    use image::{DynamicImage, RgbImage};

    /// A smooth, colourful test card with a hard edge.
    fn card(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let edge = if x > w / 3 { 200 } else { 30 };
            image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, edge])
        })
    }

    fn jpeg(img: &RgbImage, subsamp: Subsamp) -> Vec<u8> {
        let mut c = turbojpeg::Compressor::new().unwrap();
        c.set_quality(95).unwrap();
        c.set_subsamp(subsamp).unwrap();
        let image = turbojpeg::Image {
            pixels: img.as_raw().as_slice(),
            width: img.width() as usize,
            pitch: img.width() as usize * 3,
            height: img.height() as usize,
            format: turbojpeg::PixelFormat::RGB,
        };
        c.compress_to_vec(image).unwrap()
    }

    /// Mean absolute difference per channel, 0–255.
    fn distance(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let sum: u64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum();
        sum as f64 / a.len() as f64
    }

    /// Decodes `bytes` as planes, orients, resizes to fit `w` × `h` and
    /// compares with the `image` crate's full decode, oriented and resized
    /// the slow way.
    fn check(bytes: &[u8], orientation: Orientation, w: u32, h: u32) {
        let mut scratch = Scratch::default();
        let planes = decode(bytes, 8, |n| vec![0; n]).unwrap().expect("YCbCr");
        let planes = planes.orient(&mut scratch, orientation);
        let small = planes.resize(&mut scratch, w, h).unwrap();
        let ours = small.to_rgb(&mut scratch).unwrap();

        let mut reference = image::load_from_memory(bytes).unwrap();
        reference.apply_orientation(orientation);
        let reference = reference
            .resize_exact(w, h, image::imageops::FilterType::Lanczos3)
            .into_rgb8();
        let d = distance(&ours.data, reference.as_raw());
        // ~1.2–1.6 here, mostly the 4:2:0 chroma of ours against the
        // reference's full chroma; a plane turned or placed wrong gives tens.
        // Subtler chroma damage is for tests/app/quality.rs (real photos,
        // DSSIM) to catch.
        assert!(d < 2.0, "{:?} {orientation:?} {w}×{h}: {d}", planes.subsamp);

        // The encoder takes the planes as they are.
        let encoded = small.encode_jpeg(&JpegOptions {
            quality: 90,
            progressive: false,
            optimize_coding: false,
        });
        let again = image::load_from_memory(&encoded.unwrap())
            .unwrap()
            .into_rgb8();
        assert_eq!(again.dimensions(), (w, h));
        assert!(distance(again.as_raw(), &ours.data) < 3.0);

        // So does the WebP encoder, in its own range: a browser shows what
        // the planes hold, as it does a WebP encoded from their RGB. (Planes
        // handed over in JPEG's range read ~10 levels off on both counts.)
        let options = WebpOptions {
            quality: 90,
            effort: 2,
        };
        let shown = |webp: Vec<u8>| image::load_from_memory(&webp).unwrap().into_rgb8();
        let direct = shown(small.encode_webp(&options).unwrap());
        let settings = RenderSettings {
            webp: options,
            ..pipeline::tests::settings()
        };
        let via_rgb = shown(
            pipeline::encode(&ours, OutputFormat::Webp, &settings)
                .unwrap()
                .1,
        );
        assert_eq!(direct.dimensions(), (w, h));
        let (to_planes, to_rgb_route) = (
            distance(direct.as_raw(), &ours.data),
            distance(direct.as_raw(), via_rgb.as_raw()),
        );
        assert!(
            to_planes < 3.0 && to_rgb_route < 2.0,
            "WebP: {to_planes} {to_rgb_route}"
        );
    }

    #[test]
    fn every_sampling_and_odd_sizes_match_the_slow_path() {
        for subsamp in [
            Subsamp::None,
            Subsamp::Sub2x1,
            Subsamp::Sub2x2,
            Subsamp::Sub1x2,
            Subsamp::Gray,
        ] {
            for (w, h) in [(300, 200), (301, 199)] {
                let bytes = jpeg(&card(w, h), subsamp);
                check(&bytes, Orientation::NoTransforms, 151, 99);
                check(&bytes, Orientation::NoTransforms, 120, 80);
            }
        }
    }

    #[test]
    fn orientation_turns_every_plane() {
        for subsamp in [Subsamp::Sub2x1, Subsamp::Sub2x2, Subsamp::Gray] {
            let bytes = jpeg(&card(301, 199), subsamp);
            for orientation in [
                Orientation::Rotate90,
                Orientation::Rotate270FlipH,
                Orientation::FlipHorizontal,
                Orientation::Rotate180,
            ] {
                let turned = matches!(
                    orientation,
                    Orientation::Rotate90 | Orientation::Rotate270FlipH
                );
                let (w, h) = if turned { (99, 151) } else { (151, 99) };
                check(&bytes, orientation, w, h);
            }
        }
    }

    #[test]
    fn greyscale_stays_one_component() {
        let bytes = jpeg(&card(64, 48), Subsamp::Gray);
        let planes = decode(&bytes, 8, |n| vec![0; n]).unwrap().unwrap();
        let small = planes.resize(&mut Scratch::default(), 32, 24).unwrap();
        let encoded = small
            .encode_jpeg(&JpegOptions {
                quality: 90,
                progressive: false,
                optimize_coding: false,
            })
            .unwrap();
        let decoded = image::load_from_memory(&encoded).unwrap();
        assert!(matches!(decoded, DynamicImage::ImageLuma8(_)));
    }

    #[test]
    fn cmyk_and_unusual_sampling_are_left_to_the_rgb_path() {
        let cmyk = include_bytes!("../../tests/fixtures/cmyk/cmyk-green.jpg");
        assert!(decode(cmyk, 8, |n| vec![0; n]).unwrap().is_none());
        // cjpeg -sample 2x1,1x2,1x1: no TurboJPEG subsampling fits.
        let odd = include_bytes!("../../tests/fixtures/sampling/y2x1-cb1x2-cr1x1.jpg");
        assert!(decode(odd, 8, |n| vec![0; n]).unwrap().is_none());
    }
}
