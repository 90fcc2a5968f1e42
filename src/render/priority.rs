//! How much of the CPU the render threads may take from serving.
//!
//! Rendering is background work: an import of a thousand photos must not
//! make the gallery slow. Each render thread lowers its own priority as it
//! starts (Linux sets priority per thread):
//!
//! - to the niceness `render.nice` (10 by default);
//! - with `render.idle_priority`, into `SCHED_IDLE` too, the class Linux
//!   keeps for work that should run only on CPU time nothing else wants.
//!   A request's thread waking up then takes the core from a render at
//!   once, instead of waiting out the render's time slice as it must at
//!   any niceness; on an idle machine a render runs as fast as ever.
//!   Measured beside a `scoot import`, the gallery's p99 fell from 1.6×
//!   its idle figure to about 1× (docs/benchmarks.md, eleventh session).
//!
//! The class is not the default because it yields to every other program
//! too: a thread under `SCHED_IDLE` gets only a sliver of a busy CPU, so
//! on a box that also runs a browser or a build, uploads stay `pending`
//! for as long as that lasts (the browser suite saw it, run beside a
//! build). Render threads hold no lock a request waits on for longer than
//! a map update, and no database transaction, so a starved render holds
//! up no request.

/// The priority render threads take.
#[derive(Debug, Clone, Copy)]
pub struct Priority {
    /// Linux niceness, 0–19.
    pub nice: i32,
    /// Whether to run under `SCHED_IDLE`.
    pub idle: bool,
}

impl Priority {
    /// Lowers the calling thread's priority to this one. Never raises it.
    pub fn take(self) {
        if self.idle && !to_idle_class() {
            tracing::warn!(
                "cannot run the render threads under SCHED_IDLE; they keep their niceness"
            );
        }
        lower_niceness(self.nice);
    }
}

/// Moves the calling thread into `SCHED_IDLE`; whether it is there now.
#[cfg(target_os = "linux")]
fn to_idle_class() -> bool {
    use thread_priority::ThreadPriority;
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id, thread_schedule_policy,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    // The crate also sets the niceness to the class's minimum, which a
    // process started niced may not do: what counts is the class.
    let _ = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle);
    thread_schedule_policy().is_ok_and(|now| now == idle)
}

#[cfg(not(target_os = "linux"))]
fn to_idle_class() -> bool {
    false
}

/// Raises the calling thread's niceness to `nice` if it is lower.
#[cfg(target_os = "linux")]
fn lower_niceness(nice: i32) {
    use rustix::process::{getpriority_process, setpriority_process};
    let current = getpriority_process(None).unwrap_or(0);
    if nice > current {
        if let Err(e) = setpriority_process(Some(rustix::thread::gettid()), nice) {
            tracing::warn!(nice, error = %e, "cannot lower the render threads' priority");
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_niceness(_nice: i32) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The calling thread's policy and niceness, from /proc.
    fn own_policy_and_nice() -> (i64, i64) {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        (fields[38].parse().unwrap(), fields[16].parse().unwrap())
    }

    #[test]
    fn a_render_thread_runs_in_the_idle_class_at_its_niceness() {
        const SCHED_IDLE: i64 = 5;
        let taken = std::thread::spawn(|| {
            Priority {
                nice: 12,
                idle: true,
            }
            .take();
            own_policy_and_nice()
        });
        assert_eq!(taken.join().unwrap(), (SCHED_IDLE, 12));
        let niced = std::thread::spawn(|| {
            Priority {
                nice: 7,
                idle: false,
            }
            .take();
            own_policy_and_nice()
        });
        assert_eq!(niced.join().unwrap(), (0, 7));
        // The thread that made them keeps its class.
        assert_eq!(own_policy_and_nice().0, 0);
    }
}
