//! The admin page's charts: five small inline SVG charts over the last
//! hour of [`crate::history`] samples — render queue depth, renders and
//! failures per minute, cache hit ratio and storage used — drawn here as
//! plain polylines, so the page needs no script and passes the strict CSP
//! (presentation attributes, no styles).

use super::pages::{Chart, human_bytes};
use crate::domain::Millis;
use crate::history::{Sample, WINDOW};

/// The charts' drawing box (they stretch to their container).
const CHART_W: f64 = 240.0;
const CHART_H: f64 = 48.0;

/// One chart's series: (time, value) points, oldest first.
type Series = Vec<(Millis, f64)>;

/// A counter's rate per minute between consecutive samples.
fn per_minute(samples: &[Sample], count: impl Fn(&Sample) -> u64) -> Series {
    samples
        .windows(2)
        .filter(|w| w[1].at > w[0].at)
        .map(|w| {
            let minutes = (w[1].at - w[0].at) as f64 / 60_000.0;
            let delta = count(&w[1]).saturating_sub(count(&w[0]));
            (w[1].at, delta as f64 / minutes)
        })
        .collect()
}

/// The share of cache lookups that hit, in per cent, between consecutive
/// samples (intervals without lookups have no point).
fn hit_ratio(samples: &[Sample]) -> Series {
    samples
        .windows(2)
        .filter_map(|w| {
            let lookups = w[1].cache_lookups.saturating_sub(w[0].cache_lookups);
            let hits = w[1].cache_hits.saturating_sub(w[0].cache_hits);
            (lookups > 0).then(|| (w[1].at, 100.0 * hits as f64 / lookups as f64))
        })
        .collect()
}

fn gauge(samples: &[Sample], value: impl Fn(&Sample) -> u64) -> Series {
    samples.iter().map(|s| (s.at, value(s) as f64)).collect()
}

/// Draws `series` over the hour ending at `now`, scaled to its peak (or
/// to `fixed_max`, e.g. 100 for a percentage).
fn chart(
    title: &'static str,
    series: &Series,
    now: Millis,
    fixed_max: Option<f64>,
    fmt: impl Fn(f64) -> String,
) -> Chart {
    let peak = series.iter().map(|&(_, v)| v).fold(0.0, f64::max);
    let top = fixed_max.unwrap_or(peak).max(f64::EPSILON);
    let start = now - WINDOW.as_millis() as Millis;
    let point = |&(t, v): &(Millis, f64)| {
        let x = (t - start).max(0) as f64 / WINDOW.as_millis() as f64 * CHART_W;
        let y = CHART_H - (v / top).clamp(0.0, 1.0) * (CHART_H - 2.0) - 1.0;
        (x, y)
    };
    let points: Vec<(f64, f64)> = series.iter().map(point).collect();
    let line = points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let area = match (points.first(), points.last()) {
        (Some(first), Some(last)) if points.len() > 1 => format!(
            "M{:.1},{CHART_H} L{line} L{:.1},{CHART_H} Z",
            first.0, last.0
        ),
        _ => String::new(),
    };
    let current = series.last().map(|&(_, v)| fmt(v));
    let now_text = current.clone().unwrap_or_else(|| "no data yet".to_owned());
    Chart {
        title,
        summary: format!(
            "{title} over the last hour: now {now_text}, peak {}",
            fmt(peak)
        ),
        now: now_text,
        peak: fmt(peak),
        line,
        area,
        last: points.last().copied(),
        width: CHART_W,
        height: CHART_H,
    }
}

/// The five charts of the hour of `samples` ending at `now`.
pub fn operator_charts(samples: &[Sample], now: Millis) -> Vec<Chart> {
    let count = |v: f64| format!("{v:.0}");
    let rate = |v: f64| format!("{v:.1}/min");
    vec![
        chart(
            "Render queue",
            &gauge(samples, |s| s.queue_depth),
            now,
            None,
            count,
        ),
        chart(
            "Renders",
            &per_minute(samples, |s| s.renders_ready),
            now,
            None,
            rate,
        ),
        chart(
            "Render failures",
            &per_minute(samples, |s| s.renders_failed),
            now,
            None,
            rate,
        ),
        chart(
            "Cache hit ratio",
            &hit_ratio(samples),
            now,
            Some(100.0),
            |v| format!("{v:.0} %"),
        ),
        chart(
            "Storage used",
            &gauge(samples, |s| s.storage_bytes),
            now,
            None,
            |v| human_bytes(v as u64),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: Millis, ready: u64, hits: u64, lookups: u64) -> Sample {
        Sample {
            at,
            queue_depth: 0,
            renders_ready: ready,
            renders_failed: 0,
            cache_hits: hits,
            cache_lookups: lookups,
            storage_bytes: 0,
        }
    }

    #[test]
    fn rates_come_from_counter_differences() {
        let s = [
            sample(0, 0, 0, 0),
            sample(30_000, 5, 3, 4),
            sample(60_000, 5, 3, 4),
        ];
        assert_eq!(
            per_minute(&s, |s| s.renders_ready),
            [(30_000, 10.0), (60_000, 0.0)]
        );
        assert_eq!(hit_ratio(&s), [(30_000, 75.0)], "no lookups, no point");
    }

    #[test]
    fn charts_span_the_hour_and_scale_to_the_peak() {
        let hour = WINDOW.as_millis() as Millis;
        let c = chart(
            "Queue",
            &vec![(0, 0.0), (hour / 2, 4.0), (hour, 2.0)],
            hour,
            None,
            |v| format!("{v}"),
        );
        assert_eq!(c.line, "0.0,47.0 120.0,1.0 240.0,24.0");
        assert_eq!((c.now.as_str(), c.peak.as_str()), ("2", "4"));
        assert!(c.area.starts_with("M0.0,48 L") && c.area.ends_with("L240.0,48 Z"));
        let empty = chart("Queue", &Vec::new(), hour, None, |v| format!("{v}"));
        assert_eq!(empty.now, "no data yet");
        assert!(empty.line.is_empty() && empty.area.is_empty());
    }
}
