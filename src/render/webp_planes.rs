//! WebP variants straight from YCbCr planes.
//!
//! A lossy WebP is VP8, which codes 4:2:0 YCbCr: what [`super::planes`]
//! already holds for a JPEG. Through RGB, the chroma would be upsampled
//! to make RGB, and libwebp would pack that RGB and convert it back to
//! 4:2:0 YCbCr: 11–19 ms of the 83–89 ms the 1600 px WebP took that way,
//! the longest task of a 12 MP photo's render (docs/benchmarks.md). Here
//! the planes go to the encoder with only their range changed: JPEG's
//! YCbCr is full range (JFIF), VP8's is BT.601's studio range (luma
//! 16–235, chroma 16–240), the same matrix. That is what libwebp's own RGB
//! conversion produces, so the colours a browser shows are unchanged.
//!
//! The `webp` crate takes only RGB(A), so this module gives libwebp its
//! picture through `libwebp-sys`. It is the crate's only `unsafe` code:
//! a picture that libwebp allocates and frees, three planes written into
//! it, and a memory writer that libwebp fills and frees.

#![allow(unsafe_code)]

use std::mem::MaybeUninit;

use libwebp_sys as sys;

use super::types::{RenderError, WebpOptions};

/// One plane's bytes and the distance between its rows.
pub(super) type Plane<'a> = (&'a [u8], u32);

/// Encodes a `width` × `height` image from its full-range `luma` and its
/// 4:2:0 `chroma` (Cb, Cr; none for greyscale) as a lossy WebP.
pub(super) fn encode(
    width: u32,
    height: u32,
    luma: Plane,
    chroma: Option<(Plane, Plane)>,
    options: &WebpOptions,
) -> Result<Vec<u8>, RenderError> {
    let config = options.config()?;
    let mut picture = Picture::new(width, height)?;
    let (w, h) = (width as usize, height as usize);
    let [y, u, v] = picture.planes_mut();
    copy(luma, y, w, h, &LUMA);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    match chroma {
        Some((cb, cr)) => {
            copy(cb, u, cw, ch, &CHROMA);
            copy(cr, v, cw, ch, &CHROMA);
        }
        None => {
            u.0.fill(128);
            v.0.fill(128);
        }
    }
    picture.encode(&config)
}

/// Copies the `w` × `h` image part of `from` into `to`, through `range`.
fn copy(from: Plane, to: (&mut [u8], usize), w: usize, h: usize, range: &[u8; 256]) {
    let rows = (from.0.chunks(from.1 as usize).zip(to.0.chunks_mut(to.1))).take(h);
    for (src, dst) in rows {
        for (d, &s) in dst[..w].iter_mut().zip(&src[..w]) {
            *d = range[usize::from(s)];
        }
    }
}

/// Full range (0–255) to the studio range's `16..=16 + span`, rounded.
const fn studio(span: u32) -> [u8; 256] {
    let mut table = [0; 256];
    let mut v = 0;
    while v < 256 {
        table[v] = (16 + (v as u32 * span + 127) / 255) as u8;
        v += 1;
    }
    table
}

const LUMA: [u8; 256] = studio(219);
const CHROMA: [u8; 256] = studio(224);

/// A YUV 4:2:0 picture that libwebp allocated; freed when dropped.
struct Picture(sys::WebPPicture);

impl Picture {
    fn new(width: u32, height: u32) -> Result<Self, RenderError> {
        let too_big = |_| RenderError::Encode(format!("WebP: {width}×{height} is too big"));
        let mut p =
            sys::WebPPicture::new().map_err(|()| RenderError::Encode("libwebp picture".into()))?;
        p.use_argb = 0;
        p.colorspace = sys::WebPEncCSP::WEBP_YUV420;
        p.width = i32::try_from(width).map_err(too_big)?;
        p.height = i32::try_from(height).map_err(too_big)?;
        // SAFETY: `p` is initialised (WebPPictureInit), its size and
        // colourspace set; on failure nothing is allocated.
        if unsafe { sys::WebPPictureAlloc(&mut p) } == 0 {
            let why = format!("WebP: libwebp could not allocate a {width}×{height} picture");
            return Err(RenderError::Encode(why));
        }
        Ok(Self(p))
    }

    /// Its Y, U and V planes, each with its stride.
    fn planes_mut(&mut self) -> [(&mut [u8], usize); 3] {
        let p = &self.0;
        let (height, uv_height) = (p.height as usize, (p.height as usize).div_ceil(2));
        let (y_stride, uv_stride) = (p.y_stride as usize, p.uv_stride as usize);
        // SAFETY: WebPPictureAlloc gave Y `y_stride` × `height` bytes, U
        // and V `uv_stride` × ⌈height / 2⌉ each, apart from one another
        // and alive until `drop`; `&mut self` lends them out once.
        unsafe {
            [
                (
                    std::slice::from_raw_parts_mut(p.y, y_stride * height),
                    y_stride,
                ),
                (
                    std::slice::from_raw_parts_mut(p.u, uv_stride * uv_height),
                    uv_stride,
                ),
                (
                    std::slice::from_raw_parts_mut(p.v, uv_stride * uv_height),
                    uv_stride,
                ),
            ]
        }
    }

    /// Encodes the picture with `config` into memory.
    fn encode(mut self, config: &sys::WebPConfig) -> Result<Vec<u8>, RenderError> {
        let mut writer = MaybeUninit::<sys::WebPMemoryWriter>::uninit();
        // SAFETY: WebPMemoryWriterInit initialises the whole writer.
        let mut writer = unsafe {
            sys::WebPMemoryWriterInit(writer.as_mut_ptr());
            writer.assume_init()
        };
        self.0.writer = Some(sys::WebPMemoryWrite);
        self.0.custom_ptr = (&raw mut writer).cast();
        // SAFETY: the picture is allocated and filled; its writer appends
        // to `writer`, which outlives the call.
        let encoded = unsafe { sys::WebPEncode(config, &mut self.0) } != 0;
        let bytes = if writer.mem.is_null() {
            Vec::new()
        } else {
            // SAFETY: libwebp wrote `size` bytes at `mem`.
            unsafe { std::slice::from_raw_parts(writer.mem, writer.size) }.to_vec()
        };
        // SAFETY: frees what the writer allocated, once.
        unsafe { sys::WebPMemoryWriterClear(&mut writer) };
        if encoded {
            Ok(bytes)
        } else {
            Err(RenderError::Encode(format!(
                "WebP: {:?}",
                self.0.error_code
            )))
        }
    }
}

impl Drop for Picture {
    fn drop(&mut self) {
        // SAFETY: the planes were allocated by WebPPictureAlloc, and no
        // slice of them outlives `self`.
        unsafe { sys::WebPPictureFree(&mut self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_range_maps_onto_the_studio_range() {
        assert_eq!((LUMA[0], LUMA[128], LUMA[255]), (16, 126, 235));
        assert_eq!((CHROMA[0], CHROMA[128], CHROMA[255]), (16, 128, 240));
        assert!(LUMA.is_sorted() && CHROMA.is_sorted());
    }

    #[test]
    fn what_webp_cannot_hold_is_an_error() {
        let options = WebpOptions {
            quality: 80,
            effort: 0,
        };
        // VP8 stops at 16 383 px a side.
        let (w, h) = (16_384, 2);
        let luma = vec![0; w * h];
        let chroma = vec![128; w / 2];
        let planes = Some(((&chroma[..], w as u32 / 2), (&chroma[..], w as u32 / 2)));
        let made = encode(w as u32, h as u32, (&luma, w as u32), planes, &options);
        assert!(matches!(made, Err(RenderError::Encode(_))), "{made:?}");
        let (w, h) = (16_383, 2);
        let made = encode(w as u32, h as u32, (&luma, w as u32), planes, &options);
        assert!(made.is_ok_and(|webp| webp.starts_with(b"RIFF")));
    }
}
