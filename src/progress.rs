//! Progress of a long command (`scoot import`, `migrate-db`,
//! `migrate-store`): a bar on a terminal, elsewhere a line every few
//! seconds, so a log or a CI run shows it too.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    what: &'static str,
    bar: ProgressBar,
    plain: bool,
    last_line: Instant,
    started: Instant,
}

impl Progress {
    /// Progress of `what` towards `total` steps.
    pub fn new(what: &'static str, total: u64) -> Self {
        let plain = !std::io::stderr().is_terminal();
        let bar = if plain {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden())
        } else {
            ProgressBar::new(total)
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} · {per_sec} · ETA {eta} · {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        Self {
            what,
            bar,
            plain,
            last_line: Instant::now(),
            started: Instant::now(),
        }
    }

    /// `done` steps so far; `msg` says the rest.
    pub fn update(&mut self, done: u64, msg: String) {
        self.bar.set_position(done);
        if !self.plain {
            return self.bar.set_message(msg);
        }
        if self.last_line.elapsed() >= Duration::from_secs(5) {
            self.last_line = Instant::now();
            let total = self.bar.length().unwrap_or(0);
            let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            let left = total.saturating_sub(done) as f64 / rate.max(1e-9);
            eprintln!(
                "{}: {done}/{total} done, {rate:.1}/s, ETA {left:.0} s, {msg}",
                self.what
            );
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
