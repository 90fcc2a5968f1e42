//! The variant loop: every configured size of a decoded image, each
//! encoded in every configured format, and the ThumbHash. It works on
//! anything that is a [`Raster`]: RGB(A) [`Pixels`], or YCbCr planes
//! straight from a JPEG decoder.
//!
//! Like the rest of the pipeline it touches no database, store or network,
//! and is deterministic.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use super::pipeline::{RenderSettings, Rendered, RenderedVariant, encode, resize};
use super::types::{Encodes, Pixels, RenderError, Scratch};
use crate::domain::{ImageFormat, OutputFormat, VariantSpec};

/// What the variant loop works on: RGB(A) pixels, or (for JPEGs that need
/// no colour management) YCbCr planes straight from the decoder.
pub(super) trait Raster: Sized {
    fn size(&self) -> (u32, u32);
    fn resize(&self, scratch: &mut Scratch, width: u32, height: u32) -> Result<Self, RenderError>;
    fn encode(
        &self,
        scratch: &mut Scratch,
        output: OutputFormat,
        settings: &RenderSettings,
    ) -> Result<(ImageFormat, Vec<u8>), RenderError>;
    fn thumbhash(&self, scratch: &mut Scratch) -> Result<Vec<u8>, RenderError>;
    /// Hands the memory back to `scratch` for the next image.
    fn recycle(self, scratch: &mut Scratch);
}

impl Raster for Pixels {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn resize(&self, scratch: &mut Scratch, width: u32, height: u32) -> Result<Self, RenderError> {
        resize(scratch, self, width, height)
    }

    fn encode(
        &self,
        _scratch: &mut Scratch,
        output: OutputFormat,
        settings: &RenderSettings,
    ) -> Result<(ImageFormat, Vec<u8>), RenderError> {
        encode(self, output, settings)
    }

    fn thumbhash(&self, scratch: &mut Scratch) -> Result<Vec<u8>, RenderError> {
        thumbhash(scratch, self)
    }

    fn recycle(self, scratch: &mut Scratch) {
        scratch.keep(self.data);
    }
}

#[cfg(feature = "turbojpeg")]
impl Raster for super::planes::Planes {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn resize(&self, scratch: &mut Scratch, width: u32, height: u32) -> Result<Self, RenderError> {
        super::planes::Planes::resize(self, scratch, width, height)
    }

    fn encode(
        &self,
        _scratch: &mut Scratch,
        output: OutputFormat,
        settings: &RenderSettings,
    ) -> Result<(ImageFormat, Vec<u8>), RenderError> {
        match output {
            OutputFormat::Jpeg => Ok((ImageFormat::Jpeg, self.encode_jpeg(&settings.jpeg)?)),
            OutputFormat::Webp => Ok((ImageFormat::Webp, self.encode_webp(&settings.webp)?)),
        }
    }

    fn thumbhash(&self, scratch: &mut Scratch) -> Result<Vec<u8>, RenderError> {
        let rgb = self.to_rgb(scratch)?;
        let hash = thumbhash(scratch, &rgb);
        scratch.keep(rgb.data);
        hash
    }

    fn recycle(self, scratch: &mut Scratch) {
        super::planes::Planes::recycle(self, scratch);
    }
}

/// Resizes and encodes every variant from `source`, largest first, each
/// smaller size from the one before; the smallest gives the ThumbHash.
///
/// Resizing runs in turn on this thread. With [`Encodes::Shared`] each
/// size, once made, is encoded in every format by tasks of the current
/// rayon pool, which a render thread with nothing of its own to do takes:
/// one photo alone on an idle machine uses every core. With
/// [`Encodes::InTurn`] this thread encodes each size as it is made. The
/// outputs are the same bytes either way, listed in the same order.
pub(super) fn render_sizes<R: Raster + Send + Sync>(
    scratch: &mut Scratch,
    source: R,
    settings: &RenderSettings,
    encodes: Encodes,
) -> Result<Rendered, RenderError> {
    let (source_width, source_height) = source.size();
    let mut specs: Vec<&VariantSpec> = settings.variants.iter().collect();
    specs.sort_by_key(|s| std::cmp::Reverse(s.long_edge));

    let formats = settings.formats.len();
    // The dearest encodes go first, so that a thread that takes a task
    // takes the one that would otherwise finish last: WebP costs ten
    // times what JPEG does, and the largest size is made first.
    let mut by_cost: Vec<(usize, OutputFormat)> =
        settings.formats.iter().copied().enumerate().collect();
    by_cost.sort_by_key(|&(_, f)| f != OutputFormat::Webp);
    let encoded = Mutex::new(Vec::with_capacity(specs.len() * formats));
    // Every size made, each shared with the tasks encoding it.
    let mut sizes: Vec<Arc<R>> = Vec::with_capacity(specs.len());
    rayon::scope(|tasks| -> Result<(), RenderError> {
        for (i, spec) in specs.iter().enumerate() {
            let (w, h) = spec.fit(source_width, source_height);
            // The image the next (smaller) variant is resized from.
            let from = sizes
                .last()
                .map(|p| &**p)
                .filter(|p| p.size().0 >= w && p.size().1 >= h)
                .unwrap_or(&source);
            let pixels = Arc::new(from.resize(scratch, w, h)?);
            for &(j, output) in &by_cost {
                let (pixels, encoded, spec) = (pixels.clone(), &encoded, *spec);
                let encode = move || {
                    let made = with_scratch(|s| pixels.encode(s, output, settings)).map(
                        |(format, bytes)| RenderedVariant {
                            spec: spec.clone(),
                            format,
                            width: w,
                            height: h,
                            bytes,
                        },
                    );
                    let mut encoded = encoded.lock().unwrap_or_else(|e| e.into_inner());
                    encoded.push((i * formats + j, made));
                };
                match encodes {
                    Encodes::Shared => tasks.spawn(move |_| encode()),
                    Encodes::InTurn => encode(),
                }
            }
            sizes.push(pixels);
        }
        Ok(())
    })?;
    let mut encoded = encoded.into_inner().unwrap_or_else(|e| e.into_inner());
    encoded.sort_unstable_by_key(|(order, _)| *order);
    let variants = encoded
        .into_iter()
        .map(|(_, made)| made)
        .collect::<Result<Vec<_>, _>>()?;

    let smallest = sizes.last().map_or(&source, |p| &**p);
    let thumbhash = smallest.thumbhash(scratch)?;
    source.recycle(scratch);
    for size in sizes {
        // Every task has finished, so each is the only reference left.
        if let Ok(size) = Arc::try_unwrap(size) {
            size.recycle(scratch);
        }
    }
    Ok(Rendered {
        variants,
        thumbhash,
    })
}

thread_local! {
    /// The buffers of encoding tasks, one set per render thread.
    static ENCODING: RefCell<Scratch> = RefCell::default();
}

/// Runs `f` with this thread's encoding [`Scratch`]. Encoding never
/// waits on other tasks, so a thread never runs two at once.
fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    ENCODING.with_borrow_mut(f)
}

/// The ThumbHash of an image, computed from a copy at most 100 px a side
/// (ThumbHash's own limit; more detail would be averaged away anyway).
fn thumbhash(scratch: &mut Scratch, p: &Pixels) -> Result<Vec<u8>, RenderError> {
    let (w, h) = VariantSpec::new("thumbhash", 100).fit(p.width, p.height);
    let small = resize(scratch, p, w, h)?;
    let rgba: Vec<u8> = if small.alpha {
        small.data.clone()
    } else {
        small
            .data
            .chunks_exact(3)
            .flat_map(|c| [c[0], c[1], c[2], 255])
            .collect()
    };
    scratch.keep(small.data);
    Ok(thumbhash::rgba_to_thumb_hash(w as usize, h as usize, &rgba))
}

#[cfg(test)]
mod tests {
    use crate::domain::{ImageFormat, OutputFormat, VariantSpec};
    use crate::render::pipeline::{self, RenderSettings, render_with};
    use crate::render::types::{Encodes, Scratch};

    /// Four sizes in both formats: eight encodes to hand out.
    fn settings() -> RenderSettings {
        RenderSettings {
            variants: ["small", "thumb", "medium", "display"]
                .iter()
                .zip([20, 40, 80, 160])
                .map(|(name, edge)| VariantSpec::new(name, edge))
                .collect(),
            formats: vec![OutputFormat::Jpeg, OutputFormat::Webp],
            ..pipeline::tests::settings()
        }
    }

    /// The outputs, as (size, format, bytes), of a render in a pool of
    /// `threads`.
    fn rendered_in(
        threads: usize,
        encodes: Encodes,
        original: &[u8],
    ) -> Vec<(String, ImageFormat, Vec<u8>)> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut scratch = Scratch::default();
        let render = || {
            render_with(
                &mut scratch,
                original,
                ImageFormat::Jpeg,
                &settings(),
                encodes,
            )
        };
        let out = pool.install(render).unwrap();
        out.variants
            .into_iter()
            .map(|v| (v.spec.name, v.format, v.bytes))
            .collect()
    }

    #[test]
    fn parallel_encodes_give_the_same_outputs_in_the_same_order() {
        for original in [
            &include_bytes!("../../tests/fixtures/orientation/Landscape_0.jpg")[..],
            &include_bytes!("../../tests/fixtures/cmyk/cmyk-cyan.jpg")[..],
        ] {
            let alone = rendered_in(1, Encodes::InTurn, original);
            let names: Vec<_> = alone.iter().map(|(n, f, _)| format!("{n}.{f:?}")).collect();
            assert_eq!(
                names,
                [
                    "display.Jpeg",
                    "display.Webp",
                    "medium.Jpeg",
                    "medium.Webp",
                    "thumb.Jpeg",
                    "thumb.Webp",
                    "small.Jpeg",
                    "small.Webp"
                ]
            );
            for _ in 0..3 {
                let shared = rendered_in(4, Encodes::Shared, original);
                assert!(shared == alone, "the same bytes");
            }
        }
    }
}
