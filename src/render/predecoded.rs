//! An upload's decode, kept for its render. The check at upload
//! ([`super::verify`]) must read a JPEG's whole entropy-coded stream, and
//! so must the render; on a 12 MP photo that reading is most of the check.
//! So when the render would decode the JPEG as YCbCr planes anyway
//! ([`super::planes`]), the check decodes it exactly that way, shrunk on load
//! to the render's largest size, and the planes wait here, under the
//! original's hash, for the render of the photo to take them. A photo is
//! then decoded once between its upload and `ready`.
//!
//! What is kept is bounded: at most the bytes of planes given to
//! [`Predecoded::new`], each for at most [`KEEP_FOR`]. When there is no
//! room the check decodes cheaply as before ([`super::verify::verify`]) and the render decodes the
//! original itself; so does a render on another node, or after a restart.
//! Keeping is only ever a shortcut: the planes are the same the render
//! would have decoded from the stored original.
//!
//! On an idle machine the planes do not wait: their render starts at once
//! ([`super::ahead`]), and what waits here for the job is its result.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use image::metadata::Orientation;

use crossbeam_channel::Receiver;

use super::pipeline::{Encodes, RenderSettings, Rendered, Scratch};
use super::probe::Probe;
use super::types::{PixelLimits, ProbeError, RenderError};
use super::verify::verify;
use crate::domain::ContentHash;

#[cfg(feature = "turbojpeg")]
use super::planes::Planes;
#[cfg(feature = "turbojpeg")]
use crate::domain::ImageFormat;
#[cfg(not(feature = "turbojpeg"))]
pub enum Planes {}

/// How long kept planes wait for their render before they are dropped.
pub const KEEP_FOR: Duration = Duration::from_secs(60);

/// Decoded planes waiting for their render; cheap to clone.
#[derive(Clone)]
pub struct Predecoded {
    /// Taken once: the render removes the entry and empties the slot (moka
    /// hands out clones of a value, and planes are megabytes).
    planes: moka::sync::Cache<ContentHash, Slot>,
    /// The render's largest size, which the planes are shrunk on load to.
    largest: u32,
}

type Slot = Arc<Mutex<Option<Kept>>>;

/// What waits for a photo's render job.
pub enum Kept {
    /// The planes its upload's check decoded.
    Planes(Decoded),
    /// Their render, started ahead of the job: the result arrives here
    /// once made. The sender is dropped without a word if it panicked.
    Ahead(Receiver<Result<Rendered, RenderError>>),
}

/// Planes with the orientation still to apply.
pub struct Decoded {
    pub planes: Planes,
    pub orientation: Orientation,
}

impl Decoded {
    /// Their variants: what the render of the original would make.
    pub fn render(
        self,
        scratch: &mut Scratch,
        settings: &RenderSettings,
        encodes: Encodes,
    ) -> Result<Rendered, RenderError> {
        #[cfg(feature = "turbojpeg")]
        return super::pipeline::render_planes(
            scratch,
            self.planes,
            self.orientation,
            settings,
            encodes,
        );
        #[cfg(not(feature = "turbojpeg"))]
        match (self.planes, scratch, settings, encodes) {}
    }
}

impl Predecoded {
    /// Keeps up to `budget` bytes of planes decoded for a render whose
    /// largest size is `largest`.
    pub fn new(largest: u32, budget: u64) -> Self {
        let planes = moka::sync::Cache::builder()
            .max_capacity(budget)
            // Weighed as inserted, as planes; a render ahead that takes
            // their place keeps their weight until its job takes it.
            .weigher(|_, slot: &Slot| {
                let bytes = match slot.lock().expect("kept planes").as_ref() {
                    Some(Kept::Planes(d)) => byte_len(&d.planes),
                    _ => 0,
                };
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .time_to_live(KEEP_FOR)
            .build();
        Self { planes, largest }
    }

    /// Checks that `bytes`, probed as `probe`, decode to the end, as
    /// [`verify`] does; when the render would decode them as planes and
    /// there is room, by decoding them so and keeping the planes under
    /// `hash` for the render.
    #[cfg_attr(not(feature = "turbojpeg"), allow(unused_variables))]
    pub fn verify(
        &self,
        hash: &ContentHash,
        bytes: &[u8],
        probe: &Probe,
        limits: &PixelLimits,
    ) -> Result<(), ProbeError> {
        #[cfg(feature = "turbojpeg")]
        if probe.format == ImageFormat::Jpeg && self.has_room(probe) {
            let damaged =
                |e: &dyn std::fmt::Display| ProbeError::Corrupt(format!("damaged image: {e}"));
            let decoded = super::planes::decode_jpeg(bytes, self.largest, limits, |n| vec![0; n])
                .map_err(|e| damaged(&e))?;
            if let Some((planes, orientation)) = decoded {
                let decoded = Decoded {
                    planes,
                    orientation,
                };
                let kept = Kept::Planes(decoded);
                self.planes
                    .insert(hash.clone(), Arc::new(Mutex::new(Some(kept))));
                return Ok(());
            }
        }
        verify(bytes, probe.format, limits)
    }

    /// What is kept for `hash`, if it is still here; once.
    pub fn take(&self, hash: &ContentHash, largest: u32) -> Option<Kept> {
        if largest != self.largest {
            return None;
        }
        let slot = self.planes.remove(hash)?;
        slot.lock().expect("kept planes").take()
    }

    /// Hands the planes kept for `hash` to `start`, which starts their
    /// render and returns where its result will arrive, kept in their
    /// place for the job. False, and `start` not called, when no planes
    /// are kept for `hash` (none were, or their render has started).
    pub(super) fn render_ahead(
        &self,
        hash: &ContentHash,
        start: impl FnOnce(Decoded) -> Receiver<Result<Rendered, RenderError>>,
    ) -> bool {
        let Some(slot) = self.planes.get(hash) else {
            return false;
        };
        let mut kept = slot.lock().expect("kept planes");
        match kept.take() {
            Some(Kept::Planes(decoded)) => {
                *kept = Some(Kept::Ahead(start(decoded)));
                true
            }
            other => {
                *kept = other;
                false
            }
        }
    }

    /// Whether the planes of `probe` would fit beside those already kept;
    /// counted as 4:4:4, which no JPEG exceeds.
    #[cfg(feature = "turbojpeg")]
    fn has_room(&self, probe: &Probe) -> bool {
        let n = u64::from(super::jpeg::scale_numerator(
            probe.width.max(probe.height),
            self.largest,
        ));
        let side = |s: u32| (u64::from(s) * n).div_ceil(8);
        let bytes = side(probe.width) * side(probe.height) * 3;
        self.planes.run_pending_tasks();
        let budget = self.planes.policy().max_capacity().unwrap_or(0);
        self.planes.weighted_size() + bytes <= budget
    }
}

#[cfg(feature = "turbojpeg")]
fn byte_len(planes: &Planes) -> usize {
    planes.byte_len()
}

#[cfg(not(feature = "turbojpeg"))]
fn byte_len(planes: &Planes) -> usize {
    match *planes {}
}

#[cfg(all(test, feature = "turbojpeg"))]
pub(super) mod tests {
    use super::*;
    use crate::domain::OutputFormat;
    use crate::render::pipeline::{self, Encodes, Scratch};
    use crate::render::probe::probe_bytes;

    pub(in crate::render) const LIMITS: PixelLimits = PixelLimits {
        max_pixels: 100_000_000,
        max_side: 20_000,
        max_frames: 1_000,
    };

    pub(in crate::render) fn fixture(path: &str) -> Vec<u8> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
        std::fs::read(format!("{dir}{path}")).unwrap()
    }

    pub(in crate::render) fn hash(bytes: &[u8]) -> ContentHash {
        use sha2::Digest;
        ContentHash::from_digest(sha2::Sha256::new_with_prefix(bytes))
    }

    #[test]
    fn the_render_of_kept_planes_is_the_render_of_the_original() {
        let mut settings = pipeline::tests::settings();
        settings.formats = vec![OutputFormat::Jpeg, OutputFormat::Webp];
        let largest = settings.largest_edge();
        let kept = Predecoded::new(largest, 64 << 20);
        for n in 0..=8 {
            let bytes = fixture(&format!("orientation/Landscape_{n}.jpg"));
            let probe = probe_bytes(&bytes, &LIMITS).unwrap();
            let hash = hash(&bytes);
            kept.verify(&hash, &bytes, &probe, &LIMITS).unwrap();
            let Some(Kept::Planes(decoded)) = kept.take(&hash, largest) else {
                panic!("orientation {n}: planes kept");
            };
            assert!(kept.take(&hash, largest).is_none(), "taken once");
            let scratch = &mut Scratch::default();
            let shortcut = pipeline::render_planes(
                scratch,
                decoded.planes,
                decoded.orientation,
                &settings,
                Encodes::InTurn,
            )
            .unwrap();
            let whole = pipeline::render_with(
                scratch,
                &bytes,
                ImageFormat::Jpeg,
                &settings,
                Encodes::InTurn,
            )
            .unwrap();
            assert_eq!(shortcut.thumbhash, whole.thumbhash, "orientation {n}");
            assert_eq!(shortcut.variants.len(), whole.variants.len());
            for (a, b) in shortcut.variants.iter().zip(&whole.variants) {
                assert_eq!((a.width, a.height), (b.width, b.height));
                assert!(a.bytes == b.bytes, "orientation {n}: {:?}", a.spec);
            }
        }
    }

    #[test]
    fn damaged_jpegs_are_refused_as_the_cheap_check_refuses_them() {
        let kept = Predecoded::new(1600, 64 << 20);
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/malformed");
        let mut refused = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let Ok(probe) = probe_bytes(&bytes, &LIMITS) else {
                continue;
            };
            if probe.format != ImageFormat::Jpeg {
                continue;
            }
            let hash = hash(&bytes);
            let cheap = verify(&bytes, probe.format, &LIMITS);
            let keeping = kept.verify(&hash, &bytes, &probe, &LIMITS);
            assert_eq!(cheap.is_ok(), keeping.is_ok(), "{path:?}: {keeping:?}");
            if keeping.is_err() {
                refused += 1;
                assert!(kept.take(&hash, 1600).is_none(), "{path:?}: kept");
            }
        }
        assert!(refused > 0, "the fixtures hold damaged JPEGs");
    }

    #[test]
    fn nothing_is_kept_beyond_the_budget_or_for_another_size() {
        let bytes = fixture("orientation/Landscape_1.jpg");
        let probe = probe_bytes(&bytes, &LIMITS).unwrap();
        let hash = hash(&bytes);
        let tight = Predecoded::new(1600, 1024);
        tight.verify(&hash, &bytes, &probe, &LIMITS).unwrap();
        assert!(tight.take(&hash, 1600).is_none(), "no room: checked only");
        let kept = Predecoded::new(1600, 64 << 20);
        kept.verify(&hash, &bytes, &probe, &LIMITS).unwrap();
        assert!(kept.take(&hash, 800).is_none(), "shrunk for another size");
    }
}
