//! What `scoot check` found and mended, and the summary it prints.

use std::collections::HashMap;
use std::fmt::{Display, Write as _};
use std::time::Duration;

use crate::domain::{PhotoStatus, human_bytes};

/// A kind of trouble `scoot check` looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Integrity,
    MissingOriginal,
    MissingVariant,
    CorruptOriginal,
    Orphan,
    StuckDeletion,
    Leftover,
    ExpiredRender,
    Unqueued,
    /// Not trouble: space that can be taken back.
    StaleVariant,
    /// Not trouble: photos rendered under other settings, which pages
    /// still show as they are.
    Outdated,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::Integrity,
        Kind::MissingOriginal,
        Kind::MissingVariant,
        Kind::CorruptOriginal,
        Kind::Orphan,
        Kind::StuckDeletion,
        Kind::Leftover,
        Kind::ExpiredRender,
        Kind::Unqueued,
        Kind::StaleVariant,
        Kind::Outdated,
    ];

    fn label(self) -> &'static str {
        match self {
            Kind::Integrity => "database faults",
            Kind::MissingOriginal => "originals missing",
            Kind::MissingVariant => "variants missing",
            Kind::CorruptOriginal => "originals corrupt",
            Kind::Orphan => "unused blobs",
            Kind::StuckDeletion => "unfinished deletions",
            Kind::Leftover => "leftover files",
            Kind::ExpiredRender => "abandoned renders",
            Kind::Unqueued => "renders never queued",
            Kind::StaleVariant => "old variants",
            Kind::Outdated => "renders of other settings",
        }
    }

    /// What `--repair` does about it, or what a person must do.
    fn remedy(self) -> Remedy {
        match self {
            Kind::Integrity => Remedy::Person("restore the database from a backup"),
            Kind::MissingOriginal => Remedy::Repair("photo marked failed"),
            Kind::MissingVariant => Remedy::Repair("render queued"),
            Kind::CorruptOriginal => {
                Remedy::Person("restore the original from a backup, or delete its photos")
            }
            Kind::Orphan => Remedy::Repair("deleted"),
            Kind::StuckDeletion => Remedy::Repair("deleted"),
            Kind::Leftover => Remedy::Repair("removed"),
            Kind::ExpiredRender => Remedy::Repair("queued again"),
            Kind::Unqueued => Remedy::Repair("queued"),
            Kind::StaleVariant => Remedy::Repair("deleted"),
            Kind::Outdated => Remedy::Repair("render queued"),
        }
    }

    /// Whether it is something wrong, rather than something `--repair`
    /// can tidy: only trouble makes the check fail.
    fn is_trouble(self) -> bool {
        !matches!(self, Kind::StaleVariant | Kind::Outdated)
    }

    /// Its place in [`Kind::ALL`], which lists the kinds in declaration
    /// order.
    fn index(self) -> usize {
        self as usize
    }
}

enum Remedy {
    Repair(&'static str),
    Person(&'static str),
}

/// How much of one kind was found, and mended.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub found: u64,
    pub bytes: u64,
    pub repaired: u64,
    /// The first few, to look into.
    pub examples: Vec<String>,
}

const EXAMPLES: usize = 3;

/// Everything one run of `scoot check` saw.
#[derive(Debug, Clone)]
pub struct Report {
    pub database: String,
    pub store: String,
    pub repair: bool,
    pub elapsed: Duration,
    pub photos: HashMap<PhotoStatus, u64>,
    /// Count and bytes of the originals and of the variants in the store.
    pub originals: (u64, u64),
    pub variants: (u64, u64),
    /// Originals read back and hashed.
    pub hashed: u64,
    tallies: [Tally; Kind::ALL.len()],
}

impl Report {
    pub fn new(database: String, store: String, repair: bool) -> Self {
        Self {
            database,
            store,
            repair,
            elapsed: Duration::ZERO,
            photos: HashMap::new(),
            originals: (0, 0),
            variants: (0, 0),
            hashed: 0,
            tallies: Default::default(),
        }
    }

    /// One more of `kind`, taking `bytes`.
    pub fn found(&mut self, kind: Kind, what: impl Display, bytes: u64) {
        let tally = &mut self.tallies[kind.index()];
        tally.found += 1;
        tally.bytes += bytes;
        if tally.examples.len() < EXAMPLES {
            tally.examples.push(what.to_string());
        }
    }

    pub fn repaired(&mut self, kind: Kind, n: u64) {
        self.tallies[kind.index()].repaired += n;
    }

    pub fn tally(&self, kind: Kind) -> &Tally {
        &self.tallies[kind.index()]
    }

    /// Trouble found and not mended; old variants and photos rendered
    /// under other settings are not trouble.
    pub fn problems_left(&self) -> u64 {
        Kind::ALL
            .iter()
            .filter(|k| k.is_trouble())
            .map(|k| {
                let t = self.tally(*k);
                t.found.saturating_sub(t.repaired)
            })
            .sum()
    }

    /// Whether nothing is wrong (any more).
    pub fn is_clean(&self) -> bool {
        self.problems_left() == 0
    }

    /// The printed summary: the counts, then one line per kind found.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "checked {} against {} in {:.1} s{}",
            self.database,
            self.store,
            self.elapsed.as_secs_f64(),
            if self.repair { ", repairing" } else { "" }
        );
        let status = |s| self.photos.get(&s).copied().unwrap_or(0);
        let (ready, pending, failed) = (
            status(PhotoStatus::Ready),
            status(PhotoStatus::Pending),
            status(PhotoStatus::Failed),
        );
        let _ = write!(
            out,
            "\n  {:<22}{} ({ready} ready, {pending} pending, {failed} failed)",
            "photos",
            ready + pending + failed
        );
        let _ = write!(
            out,
            "\n  {:<22}{}, {} ({} re-hashed)",
            "originals",
            self.originals.0,
            human_bytes(self.originals.1),
            self.hashed
        );
        let _ = write!(
            out,
            "\n  {:<22}{}, {}",
            "variants",
            self.variants.0,
            human_bytes(self.variants.1)
        );
        for kind in Kind::ALL {
            let t = self.tally(kind);
            if t.found == 0 {
                continue;
            }
            let _ = write!(out, "\n  {:<22}{}", kind.label(), t.found);
            if t.bytes > 0 {
                let _ = write!(out, ", {}", human_bytes(t.bytes));
            }
            match kind.remedy() {
                Remedy::Repair(done) if t.repaired > 0 => {
                    let _ = write!(out, " · {} {done}", t.repaired);
                }
                Remedy::Repair(_) if self.repair => {
                    let _ = write!(out, " · none mended (in use again, or see the log)");
                }
                Remedy::Repair(done) if !kind.is_trouble() => {
                    let _ = write!(out, " · `--repair`: {done}");
                }
                Remedy::Repair(_) => {}
                Remedy::Person(what) => {
                    let _ = write!(out, " · {what}");
                }
            }
            for example in &t.examples {
                let _ = write!(out, "\n      {example}");
            }
        }
        let left = self.problems_left();
        let _ = match (left, self.repair) {
            (0, _) => write!(out, "\nno problems left"),
            (n, true) => write!(out, "\n{n} problem(s) left that --repair cannot mend"),
            (n, false) => {
                let mendable: u64 = Kind::ALL
                    .iter()
                    .filter(|k| matches!(k.remedy(), Remedy::Repair(_)) && k.is_trouble())
                    .map(|k| self.tally(*k).found)
                    .sum();
                write!(
                    out,
                    "\n{n} problem(s); `scoot check --repair` mends {mendable} of them"
                )
            }
        };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_tally() {
        for (i, kind) in Kind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i, "{kind:?}");
        }
    }

    #[test]
    fn old_variants_are_not_problems_and_repairs_count_down() {
        let mut report = Report::new("sqlite://x".into(), "file://y".into(), false);
        report.found(Kind::StaleVariant, "variants/…", 10);
        assert!(report.is_clean());
        for i in 0..5 {
            report.found(Kind::Orphan, format!("hash {i}"), 100);
        }
        report.found(Kind::CorruptOriginal, "originals/…", 7);
        assert_eq!(report.problems_left(), 6);
        assert_eq!(report.tally(Kind::Orphan).examples.len(), EXAMPLES);
        let summary = report.summary();
        assert!(
            summary.contains("unused blobs          5, 500 bytes"),
            "{summary}"
        );
        assert!(summary.contains("--repair` mends 5 of them"), "{summary}");
        report.repaired(Kind::Orphan, 5);
        assert_eq!(report.problems_left(), 1);
    }
}
