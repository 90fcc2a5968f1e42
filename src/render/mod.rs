//! Rendering photos: looking at uploads, and turning originals into the
//! sizes pages need.
//!
//! - [`probe`]: format, dimensions and EXIF from the header, without decoding.
//! - [`verify`]: at upload, that the whole stream decodes, cheaply.
//! - [`predecoded`]: that check, for a JPEG the render decodes as planes,
//!   made the render's way, the planes kept for it: one decode per photo
//!   (with `ahead`: on an idle machine, their render started at once,
//!   before the upload has committed its job).
//! - [`exif`]: the camera's facts (date, lens, exposure, GPS) from EXIF.
//! - [`pipeline`]: bytes in, variant bytes out; pure CPU work (with
//!   `variants`: the sizes and formats of a decoded image, encoded in
//!   parallel when render threads are free).
//! - [`jpeg`]: libjpeg-turbo decode (shrink-on-load) and encode.
//! - [`planes`]: JPEG to JPEG variants as YCbCr planes, never RGB (with
//!   `webp_planes`: to WebP variants too).
//! - [`colour`]: embedded ICC profiles converted to sRGB.
//! - [`types`]: pixels, options, limits and errors the others share.
//! - [`queue`]: the durable job queue, dispatcher and worker pool around the
//!   pipeline; the only part that does I/O (with `worker`: a worker
//!   thread's loop, from a claimed job to its variants stored; `leases`:
//!   the renewal of the node's claims, and the notices that wake it; and
//!   `outcome`: what became of an attempt, written down with prompt
//!   retries; `priority`: how much of the CPU render threads take from
//!   serving).
//!
//! Architecture invariant: `probe`, `verify`, `predecoded` and `pipeline` never touch the database,
//! the store or the network.

mod ahead;
pub mod colour;
pub mod exif;
pub mod jpeg;
mod leases;
mod outcome;
pub mod pipeline;
#[cfg(feature = "turbojpeg")]
pub mod planes;
pub mod predecoded;
mod priority;
pub mod probe;
pub mod queue;
pub mod types;
mod variants;
pub mod verify;
#[cfg(feature = "turbojpeg")]
mod webp_planes;
mod worker;

pub use pipeline::RenderSettings;
pub use probe::PixelLimits;
pub use queue::{RenderPool, RenderQueue};
pub use worker::RenderDeps;
