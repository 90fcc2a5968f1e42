//! Where a photo sits in time: the date the gallery sorts and groups by,
//! the orders a list can be walked in, and month headings.
//!
//! A photo is dated by when it was taken (EXIF `DateTimeOriginal`), else
//! by when it was uploaded. EXIF dates are the camera's wall clock with no
//! zone, so they are kept as written: `2021-07-04 18:30:00` becomes the
//! millisecond count of that instant read as UTC, and its month heading is
//! the month the camera showed. Upload times are real instants, grouped by
//! their UTC month.
//!
//! The database keeps the date in `photos.dated_at` (set at insert, and
//! for older rows by migration 0015, which computes the same value with the
//! same arithmetic as [`days_from_civil`] in portable SQL).

use serde::{Deserialize, Serialize};

use crate::domain::Millis;

const DAY_MS: Millis = 86_400_000;

/// The date a photo sorts and is grouped by: `taken_at`
/// (`YYYY-MM-DD HH:MM:SS`) read as UTC when it is a real calendar time,
/// else `created_at`.
pub fn dated_at(taken_at: Option<&str>, created_at: Millis) -> Millis {
    taken_at.and_then(parse_taken).unwrap_or(created_at)
}

/// `YYYY-MM-DD HH:MM:SS` as milliseconds since the epoch, the fields read
/// as UTC; `None` for anything else, or a month, day or time out of range.
/// A day past the month's end (the 31st of April) rolls into the next
/// month, as the migration's SQL does.
fn parse_taken(s: &str) -> Option<Millis> {
    let b = s.as_bytes();
    if b.len() != 19 {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let digits = &s.get(from..to)?;
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let in_range = year >= 1
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour <= 23
        && minute <= 59
        && second <= 59;
    in_range.then(|| {
        days_from_civil(year, month, day) * DAY_MS + ((hour * 60 + minute) * 60 + second) * 1000
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (year ≥ 1), by
/// Howard Hinnant's `days_from_civil` with the 400-year eras folded in:
/// only `+ - * /` on non-negative integers, so SQL computes it the same.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = year - i64::from(month <= 2);
    let shifted_month = (month + 9) % 12; // March = 0
    365 * y + y / 4 - y / 100 + y / 400 + (153 * shifted_month + 2) / 5 + day - 1 - 719_468
}

/// The civil date (year, month 1–12) of a day count from 1970-01-01.
fn civil_month(days: i64) -> (i64, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The month a date falls in: its heading (`July 2021`) and a key that
/// sorts and compares (`2021-07`).
pub fn month_of(dated_at: Millis) -> (String, String) {
    let (year, month) = civil_month(dated_at.div_euclid(DAY_MS));
    (
        format!("{} {year}", MONTHS[month as usize - 1]),
        format!("{year:04}-{month:02}"),
    )
}

/// The orders a list of photos can be walked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhotoOrder {
    /// By date (taken, else uploaded), newest first: the gallery's default.
    #[default]
    Newest,
    /// By date, oldest first.
    Oldest,
    /// By upload time, newest first: the API's list, for clients that
    /// follow what was added.
    Uploaded,
}

impl PhotoOrder {
    /// The value of a `?sort=` parameter; `None` for one Scoot does not know.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "newest" => Some(Self::Newest),
            "oldest" => Some(Self::Oldest),
            "uploaded" => Some(Self::Uploaded),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Newest => "newest",
            Self::Oldest => "oldest",
            Self::Uploaded => "uploaded",
        }
    }

    /// The column the order walks (with `id` to break ties).
    pub fn column(self) -> &'static str {
        match self {
            Self::Newest | Self::Oldest => "dated_at",
            Self::Uploaded => "created_at",
        }
    }

    pub fn ascending(self) -> bool {
        self == Self::Oldest
    }

    /// `ASC` or `DESC`.
    pub fn direction(self) -> &'static str {
        if self.ascending() { "ASC" } else { "DESC" }
    }

    /// The row-value comparison that finds what comes after a cursor.
    pub fn after(self) -> &'static str {
        if self.ascending() { ">" } else { "<" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Millis {
        let format =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        time::PrimitiveDateTime::parse(s, &format)
            .unwrap()
            .assume_utc()
            .unix_timestamp()
            * 1000
    }

    #[test]
    fn a_taken_date_is_its_wall_clock_read_as_utc() {
        for s in [
            "1970-01-01 00:00:00",
            "2021-07-04 18:30:00",
            "2000-02-29 23:59:59",
            "1900-03-01 12:00:00",
            "1969-12-31 23:59:59",
            "2400-12-31 00:00:01",
            "0001-01-01 00:00:00",
        ] {
            assert_eq!(dated_at(Some(s), 7), utc(s), "{s}");
        }
    }

    #[test]
    fn no_date_or_an_impossible_one_falls_back_to_the_upload() {
        for s in [
            "2021-13-01 00:00:00",
            "2021-00-10 00:00:00",
            "2021-01-00 00:00:00",
            "2021-01-32 00:00:00",
            "2021-01-01 24:00:00",
            "2021-01-01 00:60:00",
            "0000-01-01 00:00:00",
            "2021-01-01",
            "2021-01-01 00:00:00.5",
            "20x1-01-01 00:00:00",
            "2021-+1-01 00:00:00",
        ] {
            assert_eq!(dated_at(Some(s), 7), 7, "{s}");
        }
        assert_eq!(dated_at(None, 7), 7);
    }

    #[test]
    fn a_day_past_the_months_end_rolls_over() {
        assert_eq!(
            dated_at(Some("2021-04-31 00:00:00"), 0),
            utc("2021-05-01 00:00:00")
        );
    }

    #[test]
    fn month_headings_match_the_calendar() {
        assert_eq!(
            month_of(utc("2021-07-04 18:30:00")),
            ("July 2021".into(), "2021-07".into())
        );
        assert_eq!(
            month_of(utc("2000-02-29 23:59:59")),
            ("February 2000".into(), "2000-02".into())
        );
        assert_eq!(
            month_of(utc("1969-12-31 23:59:59")),
            ("December 1969".into(), "1969-12".into())
        );
        assert_eq!(month_of(0), ("January 1970".into(), "1970-01".into()));
        // Every month boundary over four centuries.
        for year in [1899, 1900, 1999, 2000, 2023, 2024, 2100] {
            for month in 1..=12 {
                let first = utc(&format!("{year:04}-{month:02}-01 00:00:00"));
                let key = format!("{year:04}-{month:02}");
                assert_eq!(month_of(first).1, key);
                let before = month_of(first - 1).1;
                assert_ne!(before, key);
            }
        }
    }

    /// Migration 0015 fills `dated_at` for rows older than it with SQL
    /// that must agree with [`dated_at`] (checked here on SQLite; the same
    /// text runs on PostgreSQL).
    #[test]
    fn the_migration_dates_old_rows_as_inserts_do() {
        let taken = [
            Some("2021-07-04 18:30:00"),
            None,
            Some("2021-13-01 00:00:00"),
            Some("2000-02-29 23:59:59"),
            Some("1969-12-31 23:59:59"),
            Some("2021-04-31 00:00:00"),
            Some("0001-01-01 00:00:00"),
            Some("2021-01-01 24:00:00"),
            Some("2021-01-00 10:00:00"),
            Some("1987-11-30 07:05:59"),
        ];
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch("CREATE TABLE photos (id INTEGER, taken_at TEXT, created_at BIGINT)")
            .unwrap();
        for (i, t) in (0i64..).zip(taken) {
            db.execute(
                "INSERT INTO photos VALUES (?1, ?2, ?3)",
                rusqlite::params![i, t, 1000 + i],
            )
            .unwrap();
        }
        db.execute_batch(include_str!("db/migrations/0015_dated.sql"))
            .unwrap();
        for (i, t) in (0i64..).zip(taken) {
            let got: i64 = db
                .query_row("SELECT dated_at FROM photos WHERE id = ?1", [i], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(got, dated_at(t, 1000 + i), "{t:?}");
        }
    }

    #[test]
    fn orders_parse_and_name_themselves() {
        for o in [PhotoOrder::Newest, PhotoOrder::Oldest, PhotoOrder::Uploaded] {
            assert_eq!(PhotoOrder::parse(o.as_str()), Some(o));
        }
        assert_eq!(PhotoOrder::parse("random"), None);
        assert_eq!(PhotoOrder::default(), PhotoOrder::Newest);
    }
}
