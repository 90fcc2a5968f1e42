//! The render pool's settings (`[render]`): threads, formats, qualities,
//! sizes, memory budget and CPU priority.

use serde::{Deserialize, Serialize};

use super::cores;
use crate::domain::{OutputFormat, VariantSpec};

/// The background render pool and what it produces.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RenderConfig {
    /// Worker threads; 0 means one fewer than the CPU count, at least one.
    pub threads: usize,
    /// JPEG quality of variants, 1–100.
    pub jpeg_quality: u8,
    /// Progressive JPEG variants: ~5 % smaller, drawn coarse-to-fine, but
    /// about five times the encode time.
    pub jpeg_progressive: bool,
    /// Huffman tables fitted to each image: ~2 % smaller, twice the encode time.
    pub jpeg_optimize_coding: bool,
    /// The formats every size is written in. `jpeg` (PNG for sources with
    /// alpha) is required: it is what every browser shows.
    pub formats: Vec<OutputFormat>,
    /// WebP quality of variants, 1–100.
    pub webp_quality: u8,
    /// libwebp's effort (`method`), 0–6: each step up is slower and a
    /// little smaller.
    pub webp_effort: u8,
    /// Claims of a job before it is failed: a render that keeps crashing
    /// or killing the process ends `failed`. A render the storage kept
    /// from finishing (a full disk, a store away) does not use one up.
    pub max_attempts: u32,
    /// Seconds before a render the storage kept from finishing is tried
    /// again.
    pub retry_seconds: u32,
    /// Renders run concurrently only while their estimated memory (decoded
    /// pixels and buffers) fits in this many MiB; a bigger one runs alone.
    pub memory_budget_mb: u32,
    /// The render threads' niceness, 0–19 (Linux): higher yields the CPU to
    /// serving pages sooner. Never below the process's own niceness.
    pub nice: i32,
    /// Whether render threads run under `SCHED_IDLE` (Linux): only on CPU
    /// time that nothing else wants, so a request never waits for a
    /// render, but any other busy program on the box holds renders up.
    /// Off (the default), they compete at `nice`.
    pub idle_priority: bool,
    /// How long a node's claim on a render job lasts unless renewed (it
    /// renews a third of the way through while the render goes on): after
    /// a node dies, its jobs wait this long for another node.
    pub lease_seconds: u32,
    /// The sizes every photo is rendered to.
    pub variants: Vec<VariantSpec>,
}

impl Default for RenderConfig {
    fn default() -> Self {
        Self {
            threads: 0,
            jpeg_quality: 82,
            jpeg_progressive: false,
            jpeg_optimize_coding: false,
            formats: vec![OutputFormat::Jpeg, OutputFormat::Webp],
            webp_quality: 80,
            webp_effort: 2,
            max_attempts: 5,
            retry_seconds: 10,
            memory_budget_mb: 1024,
            nice: 10,
            idle_priority: false,
            lease_seconds: 60,
            // Each twice the one before, so a justified row's tile finds a
            // size at most twice its width (see web::timeline).
            variants: vec![
                VariantSpec::new("small", 200),
                VariantSpec::new("thumb", 400),
                VariantSpec::new("medium", 800),
                VariantSpec::new("display", 1600),
            ],
        }
    }
}

impl RenderConfig {
    /// The worker count after applying the "0 means cores − 1" rule.
    pub fn effective_threads(&self) -> usize {
        if self.threads > 0 {
            return self.threads;
        }
        cores().saturating_sub(1).max(1)
    }
}
