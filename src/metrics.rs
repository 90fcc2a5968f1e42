//! Prometheus metrics: one registry per running app (never a global, so
//! tests can run several apps in one process).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Every metric Scoot exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub render_queue_depth: IntGauge,
    pub render_memory_reserved: IntGauge,
    pub render_memory_reserved_peak: IntGauge,
    pub renders_in_flight: IntGauge,
    pub renders_in_flight_peak: IntGauge,
    pub render_duration: HistogramVec,
    pub renders: IntCounterVec,
    pub render_sources: IntCounterVec,
    pub cache_lookups: IntCounterVec,
    pub express_answers: IntCounter,
    pub uploads: IntCounterVec,
    pub upload_check_duration: Histogram,
}

impl Metrics {
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("scoot".into()), None).expect("a valid metric prefix");
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
                ],
            ),
            &["route"],
        )
        .expect("valid metric");
        let render_queue_depth =
            IntGauge::new("render_queue_depth", "Render jobs queued or running").expect("valid");
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        let render_memory_reserved = gauge(
            "render_memory_reserved_bytes",
            "Estimated memory of the renders running now (admission is bounded by render.memory_budget_mb)",
        );
        let render_memory_reserved_peak = gauge(
            "render_memory_reserved_peak_bytes",
            "Highest render_memory_reserved_bytes since start",
        );
        let renders_in_flight = gauge("renders_in_flight", "Renders running now");
        let renders_in_flight_peak = gauge(
            "renders_in_flight_peak",
            "Most renders running at once since start",
        );
        let render_duration = HistogramVec::new(
            HistogramOpts::new("render_duration_seconds", "Time to render one photo")
                .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]),
            &["outcome"],
        )
        .expect("valid metric");
        let renders = IntCounterVec::new(
            Opts::new("renders_total", "Render attempts by outcome"),
            &["outcome"],
        )
        .expect("valid metric");
        let render_sources = IntCounterVec::new(
            Opts::new(
                "render_sources_total",
                "What renders started from: planes the upload's check decoded and kept, their render started ahead of the job, or the stored original",
            ),
            &["source"],
        )
        .expect("valid metric");
        let cache_lookups = IntCounterVec::new(
            Opts::new("cache_lookups_total", "Cache lookups by cache and result"),
            &["cache", "result"],
        )
        .expect("valid metric");
        let express_answers = IntCounter::new(
            "express_answers_total",
            "Requests answered in the express lane, from what the front keeps, without hyper",
        )
        .expect("valid metric");
        let uploads = IntCounterVec::new(
            Opts::new("uploads_total", "Uploads by outcome"),
            &["outcome"],
        )
        .expect("valid metric");
        let upload_check_duration = Histogram::with_opts(
            HistogramOpts::new(
                "upload_check_seconds",
                "Time to probe an upload and check that it decodes to the end",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            ]),
        )
        .expect("valid metric");
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(render_queue_depth.clone()),
            Box::new(render_memory_reserved.clone()),
            Box::new(render_memory_reserved_peak.clone()),
            Box::new(renders_in_flight.clone()),
            Box::new(renders_in_flight_peak.clone()),
            Box::new(render_duration.clone()),
            Box::new(renders.clone()),
            Box::new(render_sources.clone()),
            Box::new(cache_lookups.clone()),
            Box::new(express_answers.clone()),
            Box::new(uploads.clone()),
            Box::new(upload_check_duration.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Self {
            registry,
            http_requests,
            http_duration,
            render_queue_depth,
            render_memory_reserved,
            render_memory_reserved_peak,
            renders_in_flight,
            renders_in_flight_peak,
            render_duration,
            renders,
            render_sources,
            cache_lookups,
            express_answers,
            uploads,
            upload_check_duration,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let families = self.registry.gather();
        if let Err(e) = TextEncoder::new().encode(&families, &mut buf) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// One cache's hit and miss counters in a `(cache, result)` counter vec,
/// looked up once: a lookup by label on every request was a measurable
/// part of a cached page's or image's cost.
#[derive(Clone)]
pub struct HitsAndMisses {
    hit: IntCounter,
    miss: IntCounter,
}

impl HitsAndMisses {
    pub fn new(lookups: &IntCounterVec, cache: &str) -> Self {
        Self {
            hit: lookups.with_label_values(&[cache, "hit"]),
            miss: lookups.with_label_values(&[cache, "miss"]),
        }
    }

    pub fn count(&self, hit: bool) {
        match hit {
            true => self.hit.inc(),
            false => self.miss.inc(),
        }
    }
}
