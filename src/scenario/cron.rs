//! Cron schedules in a time zone: croner patterns (5 fields, or 6 with seconds first;
//! "monthly at midnight" is `0 0 1 * *`) evaluated on the wall clock of an IANA zone.
//!
//! Daylight saving time follows croner (OCPS / Vixie cron):
//! - a fixed time that does not exist (spring forward, e.g. 02:30 on 2026-03-29 in
//!   Europe/Berlin) fires at the first valid time after the gap that day (03:00 CEST);
//! - a fixed time that happens twice (fall back, e.g. 02:30 on 2026-10-25 in Europe/Berlin)
//!   fires once, at its first occurrence (02:30 CEST);
//! - wildcard and interval patterns skip times in a gap and fire on both passes of an
//!   overlap.
//!
//! The unit tests pin each of these.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde::{Deserialize, Serialize};

/// A parsed pattern and its zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
}

/// One upcoming fire time: the instant, and the wall clock of the trigger's zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FireTime {
    pub at: DateTime<Utc>,
    /// e.g. `2026-03-01 00:00:00 CET`.
    pub local: String,
}

/// Fire times that fell due in a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Due {
    pub count: usize,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

/// Fire times counted in one window at most (a node down for years does not loop forever;
/// the count then says "at least").
pub const MAX_COUNTED: usize = 10_000;

impl Schedule {
    /// Parses a pattern and an IANA zone name; the error says which is wrong.
    pub fn parse(pattern: &str, timezone: &str) -> Result<Schedule, String> {
        let cron = Cron::from_str(pattern).map_err(|e| format!("'{pattern}' is not a cron pattern: {e}"))?;
        let tz = parse_timezone(timezone)?;
        let schedule = Schedule { cron, tz };
        // A pattern that can never fire (e.g. `0 0 30 2 *`) is refused now, not found out later.
        // Five-field patterns have no year, so one that fires after the epoch fires forever.
        if schedule.next_after(DateTime::UNIX_EPOCH).is_none() {
            return Err(format!("'{pattern}' never fires"));
        }
        Ok(schedule)
    }

    /// The first fire time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.tz);
        self.cron.find_next_occurrence(&local, false).ok().map(|d| d.with_timezone(&Utc))
    }

    /// The next `count` fire times strictly after `t`.
    pub fn next_fires(&self, t: DateTime<Utc>, count: usize) -> Vec<FireTime> {
        let mut out = Vec::with_capacity(count);
        let mut at = t;
        while out.len() < count {
            let Some(next) = self.next_after(at) else { break };
            out.push(FireTime {
                at: next,
                local: next.with_timezone(&self.tz).format("%Y-%m-%d %H:%M:%S %Z").to_string(),
            });
            at = next;
        }
        out
    }

    /// The fire times in `(after, until]`, if any.
    pub fn due(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Option<Due> {
        let first = self.next_after(after).filter(|t| *t <= until)?;
        let mut due = Due { count: 1, first, last: first };
        while due.count < MAX_COUNTED {
            match self.next_after(due.last) {
                Some(t) if t <= until => {
                    due.count += 1;
                    due.last = t;
                }
                _ => break,
            }
        }
        Some(due)
    }

    /// A sentence saying when it fires, e.g. "At 00:00 on day-of-month 1.".
    pub fn describe(&self) -> String {
        self.cron.describe()
    }
}

pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    Tz::from_str(name)
        .map_err(|_| format!("'{name}' is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    fn fires(pattern: &str, tz: &str, from: &str, n: usize) -> Vec<String> {
        let s = Schedule::parse(pattern, tz).expect("schedule");
        s.next_fires(utc(from), n).into_iter().map(|f| f.at.to_rfc3339()).collect()
    }

    #[test]
    fn day_31_skips_short_months() {
        assert_eq!(
            fires("0 0 31 * *", "UTC", "2026-01-01T00:00:00Z", 5),
            [
                "2026-01-31T00:00:00+00:00",
                "2026-03-31T00:00:00+00:00",
                "2026-05-31T00:00:00+00:00",
                "2026-07-31T00:00:00+00:00",
                "2026-08-31T00:00:00+00:00"
            ]
        );
    }

    #[test]
    fn monthly_at_midnight_in_utc_and_new_york() {
        assert_eq!(
            fires("0 0 1 * *", "UTC", "2026-01-15T12:00:00Z", 3),
            ["2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00", "2026-04-01T00:00:00+00:00"]
        );
        // Midnight in New York is 05:00 UTC in winter (EST) and 04:00 UTC in summer (EDT,
        // from 2026-03-08).
        assert_eq!(
            fires("0 0 1 * *", "America/New_York", "2026-01-15T12:00:00Z", 3),
            ["2026-02-01T05:00:00+00:00", "2026-03-01T05:00:00+00:00", "2026-04-01T04:00:00+00:00"]
        );
        let s = Schedule::parse("0 0 1 * *", "America/New_York").expect("schedule");
        assert_eq!(s.next_fires(utc("2026-01-15T12:00:00Z"), 1)[0].local, "2026-02-01 00:00:00 EST");
    }

    #[test]
    fn a_time_in_the_spring_gap_fires_after_the_gap() {
        // 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist.
        let f = fires("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 3);
        assert_eq!(
            f,
            [
                "2026-03-29T01:00:00+00:00", // 03:00 CEST, the first valid time after the gap
                "2026-03-30T00:30:00+00:00", // 02:30 CEST
                "2026-03-31T00:30:00+00:00"
            ]
        );
    }

    #[test]
    fn a_time_in_the_autumn_overlap_fires_once() {
        // 2026-10-25 in Berlin: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice
        // (00:30 UTC and 01:30 UTC). A fixed time fires on the first pass only.
        let f = fires("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 2);
        assert_eq!(f, ["2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00"]);
        // Searching from inside the overlap, after the first pass, does not fire again.
        let f = fires("30 2 * * *", "Europe/Berlin", "2026-10-25T00:45:00Z", 1);
        assert_eq!(f, ["2026-10-26T01:30:00+00:00"]);
    }

    #[test]
    fn due_counts_the_window() {
        let s = Schedule::parse("0 0 1 * *", "UTC").expect("schedule");
        let due = s.due(utc("2026-01-15T00:00:00Z"), utc("2026-04-01T00:00:00Z")).expect("due");
        assert_eq!((due.count, due.first, due.last), (3, utc("2026-02-01T00:00:00Z"), utc("2026-04-01T00:00:00Z")));
        assert!(s.due(utc("2026-04-01T00:00:00Z"), utc("2026-04-30T00:00:00Z")).is_none());
    }

    #[test]
    fn bad_patterns_and_zones_are_refused() {
        assert!(Schedule::parse("0 0 1 * *", "Mars/Olympus").expect_err("an error").contains("IANA"));
        assert!(Schedule::parse("61 * * * *", "UTC").expect_err("an error").contains("cron pattern"));
        assert!(Schedule::parse("every month", "UTC").is_err());
        assert!(Schedule::parse("0 0 30 2 *", "UTC").expect_err("an error").contains("never fires"));
    }
}
