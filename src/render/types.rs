//! The types the render modules share: pixels and their buffers, encoder
//! options, limits and errors. They depend on nothing else in `render`, so
//! every other module can use them without importing another's internals
//! (the pipeline, the codecs and the probe stay free of cycles).

use fast_image_resize::{PixelType, Resizer};
use image::Limits;

/// Pixel limits an image must be within to be accepted or decoded.
#[derive(Debug, Clone, Copy)]
pub struct PixelLimits {
    pub max_pixels: u64,
    pub max_side: u32,
    /// Frames of an animated GIF or WebP (only the first is rendered).
    pub max_frames: u32,
}

impl PixelLimits {
    /// The limits the `upload` section sets.
    pub fn of_upload(upload: &crate::config::UploadConfig) -> Self {
        Self {
            max_pixels: upload.max_pixels,
            max_side: upload.max_side,
            max_frames: upload.max_frames,
        }
    }

    /// The `image` crate limits matching these: strict sides, and a decode
    /// allocation budget of the largest RGBA16 frame plus slack.
    pub fn decoder_limits(&self) -> Limits {
        let mut limits = Limits::default();
        limits.max_image_width = Some(self.max_side);
        limits.max_image_height = Some(self.max_side);
        limits.max_alloc = Some(self.max_pixels.saturating_mul(8).saturating_add(64 << 20));
        limits
    }

    /// Refuses images over the limits (or with no pixels).
    pub fn check(&self, width: u32, height: u32) -> Result<(), ProbeError> {
        let pixels = u64::from(width) * u64::from(height);
        if width == 0 || height == 0 {
            return Err(ProbeError::Corrupt("image has no pixels".into()));
        }
        if width > self.max_side || height > self.max_side || pixels > self.max_pixels {
            return Err(ProbeError::TooLarge {
                width,
                height,
                limits: *self,
            });
        }
        Ok(())
    }
}

/// Why an image is refused. All of these are the uploader's problem (4xx).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProbeError {
    #[error("not an image Scoot accepts (JPEG, PNG, WebP or GIF)")]
    NotAnImage,
    #[error("{0} images are not accepted (JPEG, PNG, WebP or GIF only)")]
    Unsupported(String),
    #[error(
        "image is {width}×{height}; the limit is {} px a side and {} megapixels",
        limits.max_side,
        limits.max_pixels / 1_000_000
    )]
    TooLarge {
        width: u32,
        height: u32,
        limits: PixelLimits,
    },
    #[error("animation has more than {limit} frames")]
    TooManyFrames { limit: u32 },
    #[error("cannot read image: {0}")]
    Corrupt(String),
}

/// How WebP variants are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebpOptions {
    pub quality: u8,
    /// libwebp's `method`, 0 (fastest) to 6 (smallest).
    pub effort: u8,
}

impl WebpOptions {
    /// `w80e2` is quality 80, effort 2.
    pub fn tag(&self) -> String {
        format!("w{}e{}", self.quality, self.effort)
    }

    /// libwebp's configuration for these options: lossy, at `quality`,
    /// with `effort` as its method.
    pub fn config(&self) -> Result<libwebp_sys::WebPConfig, RenderError> {
        let mut config = libwebp_sys::WebPConfig::new()
            .map_err(|()| RenderError::Encode("libwebp config".into()))?;
        config.quality = f32::from(self.quality);
        config.method = i32::from(self.effort);
        Ok(config)
    }
}

/// How JPEG variants are encoded (always 4:2:0, never with metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegOptions {
    pub quality: u8,
    /// Progressive scans: ~5 % smaller files, ~5× the encode time.
    pub progressive: bool,
    /// Huffman tables fitted to the image: ~2 % smaller, ~2× the encode time.
    pub optimize_coding: bool,
}

impl JpegOptions {
    /// Names the settings in variant keys: `q82` is quality 82 baseline,
    /// `q82o` with optimized Huffman tables, `q82p` progressive.
    pub fn tag(&self) -> String {
        let mode = match (self.progressive, self.optimize_coding) {
            (true, _) => "p",
            (false, true) => "o",
            (false, false) => "",
        };
        format!("q{}{mode}", self.quality)
    }
}

/// Why a render failed; all are permanent for these bytes.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RenderError {
    #[error("{0}")]
    Decode(#[from] ProbeError),
    #[error("resize failed: {0}")]
    Resize(String),
    #[error("encode failed: {0}")]
    Encode(String),
    #[error("colour conversion failed: {0}")]
    Colour(String),
}

/// Decoded pixels in one of the two layouts the pipeline works in: 8-bit
/// RGB, or 8-bit RGBA when `alpha`.
pub struct Pixels {
    pub width: u32,
    pub height: u32,
    pub alpha: bool,
    pub data: Vec<u8>,
}

impl Pixels {
    pub(super) fn pixel_type(&self) -> PixelType {
        if self.alpha {
            PixelType::U8x4
        } else {
            PixelType::U8x3
        }
    }
}

/// How a render's encodes run: as tasks other render threads may take
/// (a photo alone, so that it uses every idle core), or in turn on the
/// render's own thread (under a bulk import, where every thread has a
/// photo of its own and handing work around would only cost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encodes {
    Shared,
    InTurn,
}

/// What a render worker keeps between jobs: the resizer's internal buffers
/// and spare pixel buffers, so that decoding and resizing a photo writes
/// into memory that is already mapped instead of faulting in fresh pages.
#[derive(Default)]
pub struct Scratch {
    pub(super) resizer: Resizer,
    spare: Vec<Vec<u8>>,
}

impl Scratch {
    /// A buffer of exactly `len` bytes (contents unspecified), reusing a
    /// spare one when one is big enough.
    pub(super) fn buffer(&mut self, len: usize) -> Vec<u8> {
        let mut v = match self.spare.iter().position(|b| b.capacity() >= len) {
            Some(i) => self.spare.swap_remove(i),
            None => Vec::with_capacity(len),
        };
        v.resize(len, 0);
        v
    }

    /// Keeps a buffer for the next job (at most a few).
    pub(super) fn keep(&mut self, buffer: Vec<u8>) {
        const SPARE: usize = 4;
        if self.spare.len() < SPARE {
            self.spare.push(buffer);
        } else if let Some(smallest) = self.spare.iter_mut().min_by_key(|b| b.capacity())
            && smallest.capacity() < buffer.capacity()
        {
            *smallest = buffer;
        }
    }
}
