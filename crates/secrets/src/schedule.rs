//! Rotation schedules: `RotationRules` with `AutomaticallyAfterDays`, or a `ScheduleExpression`
//! of `rate(N days|hours)` or AWS's six-field `cron(min hour day-of-month month day-of-week
//! year)`, and an optional `Duration` window (`Nh`). All times are UTC epoch seconds.

use time::{Date, OffsetDateTime};

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// Why a schedule is refused (AWS's `InvalidParameterException` texts where known).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// `AutomaticallyAfterDays` outside 1–1000.
    #[error("RotationRules.AutomaticallyAfterDays must be within 1-1000.")]
    Days(i64),
    /// Both forms given.
    #[error("You can't specify both AutomaticallyAfterDays and ScheduleExpression.")]
    Both,
    /// A malformed expression.
    #[error("Invalid ScheduleExpression: {0}")]
    Expression(String),
    /// A malformed or out-of-range duration.
    #[error("Invalid Duration {0:?}: must be 1h to 24h")]
    Duration(String),
    /// A window that runs into the next one or into the next UTC day, which AWS's
    /// `RotationRules` forbid.
    #[error(
        "Invalid Duration {0:?}: the rotation window must not extend into the next rotation window or the next UTC day"
    )]
    Window(String),
}

/// When rotations are due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every N days (`AutomaticallyAfterDays` or `rate(N days)`).
    Days(u32),
    /// Every N hours (`rate(N hours)`, 4–23).
    Hours(u32),
    /// A cron expression.
    Cron(Box<Cron>),
}

/// `RotationRules`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationRules {
    /// The schedule.
    pub schedule: Schedule,
    /// The window's length in seconds (`Duration`), when given.
    pub window: Option<i64>,
}

impl RotationRules {
    /// Parses the members of `RotationRules`.
    pub fn parse(
        after_days: Option<i64>,
        expression: Option<&str>,
        duration: Option<&str>,
    ) -> Result<Self, ScheduleError> {
        let schedule = match (after_days, expression) {
            (Some(_), Some(_)) => return Err(ScheduleError::Both),
            (Some(d), None) => Schedule::Days(days(d)?),
            (None, Some(e)) => parse_expression(e)?,
            (None, None) => {
                return Err(ScheduleError::Expression(
                    "RotationRules needs AutomaticallyAfterDays or ScheduleExpression".to_owned(),
                ));
            }
        };
        let window = duration.map(parse_duration).transpose()?;
        let rules = Self { schedule, window };
        if let (Some(d), Some(w)) = (duration, window)
            && !rules.window_fits(w)
        {
            return Err(ScheduleError::Window(d.to_owned()));
        }
        Ok(rules)
    }

    /// Whether a window of `len` seconds ends before the next window opens and before the end
    /// of the UTC day it opened in.
    fn window_fits(&self, len: i64) -> bool {
        match &self.schedule {
            // Day schedules open at midnight: any Duration (at most 24h) ends by the next one.
            Schedule::Days(_) => true,
            // Windows open every n hours from midnight; the day's last must close by the next.
            Schedule::Hours(n) => {
                let every = i64::from(*n) * HOUR;
                len <= every && (DAY - 1).div_euclid(every) * every + len <= DAY
            }
            Schedule::Cron(c) => c.starts_in_day().windows(2).all(|w| match w {
                [a, b] => a + len <= *b,
                _ => true,
            }),
        }
    }

    /// The start of the next rotation window after a rotation (or the enabling of rotation)
    /// at `last`.
    pub fn next_after(&self, last: i64) -> Option<i64> {
        match &self.schedule {
            // AWS's day-based windows open at midnight UTC of the due day.
            Schedule::Days(n) => Some(last.div_euclid(DAY) * DAY + i64::from(*n) * DAY),
            // "If you use a rate() expression, the rotation window starts at midnight": every
            // n hours from each UTC midnight, on the hour (bug: n hours after the last
            // rotation, so windows drifted and could run past midnight).
            Schedule::Hours(n) => {
                let every = i64::from(*n) * HOUR;
                let midnight = last.div_euclid(DAY) * DAY;
                let next = midnight + ((last - midnight).div_euclid(every) + 1) * every;
                Some(if next < midnight + DAY {
                    next
                } else {
                    midnight + DAY
                })
            }
            Schedule::Cron(c) => c.next_after(last),
        }
    }

    /// When the window that opened at `start` closes: after `Duration`, or, as AWS documents
    /// its default, after one hour for a schedule in hours and at the end of the UTC day for one
    /// in days.
    pub fn window_end(&self, start: i64) -> i64 {
        if let Some(w) = self.window {
            return start + w;
        }
        let hourly = match &self.schedule {
            Schedule::Hours(_) => true,
            Schedule::Cron(c) => c.starts_in_day().len() > 2,
            Schedule::Days(_) => false,
        };
        if hourly {
            start + HOUR
        } else {
            start.div_euclid(DAY) * DAY + DAY
        }
    }

    /// `AutomaticallyAfterDays` as `DescribeSecret` shows it after a rotation at `last`: the
    /// days of a day schedule, or for a cron expression the days between its next two windows
    /// (AWS: "calculated from the rotation schedule after every successful rotation"). None
    /// for schedules in hours, which no number of days describes.
    pub fn automatically_after_days(&self, last: i64) -> Option<i64> {
        match &self.schedule {
            Schedule::Days(n) => Some(i64::from(*n)),
            Schedule::Hours(_) => None,
            Schedule::Cron(c) => {
                let next = c.next_after(last)?;
                let after = c.next_after(next)?;
                Some(((after - next) + DAY - 1).div_euclid(DAY).max(1))
            }
        }
    }
}

fn days(d: i64) -> Result<u32, ScheduleError> {
    if (1..=1000).contains(&d) {
        u32::try_from(d).map_err(|_| ScheduleError::Days(d))
    } else {
        Err(ScheduleError::Days(d))
    }
}

fn bad(e: &str) -> ScheduleError {
    ScheduleError::Expression(e.to_owned())
}

/// Parses `rate(...)` or `cron(...)`.
pub fn parse_expression(expr: &str) -> Result<Schedule, ScheduleError> {
    let e = expr.trim();
    if let Some(body) = e.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let mut parts = body.split_whitespace();
        let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad(expr));
        };
        let n: i64 = n.parse().map_err(|_| bad(expr))?;
        return match unit {
            "day" | "days" => Ok(Schedule::Days(days(n).map_err(|_| bad(expr))?)),
            "hour" | "hours" if (4..=23).contains(&n) => {
                Ok(Schedule::Hours(u32::try_from(n).map_err(|_| bad(expr))?))
            }
            _ => Err(bad(expr)),
        };
    }
    if let Some(body) = e.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        return Ok(Schedule::Cron(Box::new(Cron::parse(body).map_err(
            |m| ScheduleError::Expression(format!("{expr}: {m}")),
        )?)));
    }
    Err(bad(expr))
}

/// Parses `Duration`: `Nh`, 1–24 hours.
pub fn parse_duration(d: &str) -> Result<i64, ScheduleError> {
    let n: i64 = d
        .strip_suffix('h')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| ScheduleError::Duration(d.to_owned()))?;
    if (1..=24).contains(&n) {
        Ok(n * HOUR)
    } else {
        Err(ScheduleError::Duration(d.to_owned()))
    }
}

/// Day-of-month field.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfMonth {
    Any,
    Days(u64),
    Last,
}

/// Day-of-week field (1 = Sunday, as AWS's cron counts).
#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfWeek {
    Any,
    Days(u64),
    /// `d#n`: the n-th such weekday of the month.
    Nth(u8, u8),
    /// `dL`: the last such weekday of the month (`L` alone: the last Saturday).
    Last(u8),
}

/// AWS's six-field cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u64,
    dom: DayOfMonth,
    months: u64,
    dow: DayOfWeek,
    years: Option<Vec<(i32, i32, i32)>>,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn value(s: &str, names: &[&str], base: i64) -> Result<i64, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Ok(i as i64 + base);
    }
    s.parse().map_err(|_| format!("{s:?} is not a number"))
}

/// `*`, `a`, `a-b`, `a/s`, `a-b/s`, `*/s`, comma-separated, into (lo, hi, step) ranges.
fn ranges(
    field: &str,
    lo: i64,
    hi: i64,
    names: &[&str],
    base: i64,
) -> Result<Vec<(i64, i64, i64)>, String> {
    let mut out = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<i64>().map_err(|_| format!("bad step {s:?}"))?),
            None => (part, 1),
        };
        if step < 1 {
            return Err(format!("bad step in {part:?}"));
        }
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, base)?, value(b, names, base)?)
        } else {
            let a = value(range, names, base)?;
            (a, if part.contains('/') { hi } else { a })
        };
        if a < lo || b > hi || a > b {
            return Err(format!("{part:?} is outside {lo}-{hi}"));
        }
        out.push((a, b, step));
    }
    Ok(out)
}

fn bits(field: &str, lo: i64, hi: i64, names: &[&str], base: i64) -> Result<u64, String> {
    let mut m = 0u64;
    for (a, b, step) in ranges(field, lo, hi, names, base)? {
        let mut v = a;
        while v <= b {
            m |= 1u64 << v;
            v += step;
        }
    }
    Ok(m)
}

fn has(mask: u64, v: u32) -> bool {
    v < 64 && mask & (1u64 << v) != 0
}

impl Cron {
    /// Parses the six fields between `cron(` and `)`.
    pub fn parse(body: &str) -> Result<Self, String> {
        let f: Vec<&str> = body.split_whitespace().collect();
        let [min, hour, dom, month, dow, year] = f.as_slice() else {
            return Err(format!("expected 6 fields, got {}", f.len()));
        };
        let dom = match *dom {
            "?" => DayOfMonth::Any,
            "L" => DayOfMonth::Last,
            d if d.contains('W') => return Err("W is not supported".to_owned()),
            d => DayOfMonth::Days(bits(d, 1, 31, &[], 0)?),
        };
        let dow = match *dow {
            "?" => DayOfWeek::Any,
            d if d.contains('#') => {
                let (day, n) = d.split_once('#').unwrap_or((d, "1"));
                let day = value(day, &DAYS, 1)?;
                let n: i64 = n.parse().map_err(|_| format!("bad {d:?}"))?;
                if !(1..=7).contains(&day) || !(1..=5).contains(&n) {
                    return Err(format!("bad {d:?}"));
                }
                DayOfWeek::Nth(day as u8, n as u8)
            }
            d if d.ends_with('L') => {
                let day = match d.strip_suffix('L').unwrap_or(d) {
                    "" => 7,
                    day => value(day, &DAYS, 1)?,
                };
                if !(1..=7).contains(&day) {
                    return Err(format!("bad {d:?}"));
                }
                DayOfWeek::Last(day as u8)
            }
            d => DayOfWeek::Days(bits(d, 1, 7, &DAYS, 1)?),
        };
        if (dom == DayOfMonth::Any) == (dow == DayOfWeek::Any) {
            return Err("exactly one of day-of-month and day-of-week must be ?".to_owned());
        }
        let years = if *year == "*" {
            None
        } else {
            Some(
                ranges(year, 1970, 2199, &[], 0)?
                    .into_iter()
                    .map(|(a, b, s)| (a as i32, b as i32, s as i32))
                    .collect(),
            )
        };
        let minutes = bits(min, 0, 59, &[], 0)?;
        let hours = bits(hour, 0, 23, &[], 0)?;
        // Secrets Manager rotates at most every four hours, whatever the expression (the same
        // floor as `rate(4 hours)`): one minute of the hour, hours at least four apart, across
        // midnight too.
        let set: Vec<u32> = (0..24).filter(|&h| has(hours, h)).collect();
        let gaps_ok = match (set.first(), set.last()) {
            (Some(first), Some(last)) => {
                set.windows(2).all(|w| matches!(w, [a, b] if b - a >= 4)) && first + 24 - last >= 4
            }
            _ => true,
        };
        if minutes.count_ones() > 1 || (set.len() > 1 && !gaps_ok) {
            return Err("rotation can't be scheduled more often than every four hours".to_owned());
        }
        Ok(Self {
            minutes,
            hours,
            dom,
            months: bits(month, 1, 12, &MONTHS, 1)?,
            dow,
            years,
        })
    }

    /// The seconds after midnight at which windows open on a matching day, then the next
    /// midnight (as the bound every window must end by).
    fn starts_in_day(&self) -> Vec<i64> {
        let minute = (0..60).find(|&m| has(self.minutes, m)).map_or(0, i64::from);
        (0..24u32)
            .filter(|&h| has(self.hours, h))
            .map(|h| i64::from(h) * HOUR + minute * 60)
            .chain(std::iter::once(DAY))
            .collect()
    }

    fn day_matches(&self, d: Date) -> bool {
        if let Some(ys) = &self.years
            && !ys
                .iter()
                .any(|(a, b, s)| d.year() >= *a && d.year() <= *b && (d.year() - a) % s == 0)
        {
            return false;
        }
        if !has(self.months, u8::from(d.month()).into()) {
            return false;
        }
        let weekday = u32::from(d.weekday().number_from_sunday());
        match (&self.dom, &self.dow) {
            (DayOfMonth::Days(m), _) => has(*m, d.day().into()),
            (DayOfMonth::Last, _) => d.day() == d.month().length(d.year()),
            (_, DayOfWeek::Days(m)) => has(*m, weekday),
            (_, DayOfWeek::Nth(w, n)) => u32::from(*w) == weekday && (d.day() - 1) / 7 + 1 == *n,
            (_, DayOfWeek::Last(w)) => {
                u32::from(*w) == weekday && d.day() + 7 > d.month().length(d.year())
            }
            (DayOfMonth::Any, DayOfWeek::Any) => true,
        }
    }

    /// The first matching minute strictly after `after`, within ten years.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let start = OffsetDateTime::from_unix_timestamp(after).ok()?;
        let mut day = start.date();
        for _ in 0..3660 {
            if self.day_matches(day) {
                let midnight = day.midnight().assume_utc().unix_timestamp();
                for h in 0..24u32 {
                    if !has(self.hours, h) {
                        continue;
                    }
                    for m in 0..60u32 {
                        let t = midnight + i64::from(h) * HOUR + i64::from(m) * 60;
                        if has(self.minutes, m) && t > after {
                            return Some(t);
                        }
                    }
                }
            }
            day = day.next_day()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::Weekday;

    fn at(s: &str) -> i64 {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp()
    }

    #[test]
    fn days_windows_open_at_midnight() {
        let r = RotationRules::parse(Some(30), None, None).unwrap();
        assert_eq!(
            r.next_after(at("2026-01-01T13:45:00Z")),
            Some(at("2026-01-31T00:00:00Z"))
        );
        let start = at("2026-01-31T00:00:00Z");
        assert_eq!(r.window_end(start), at("2026-02-01T00:00:00Z"));
    }

    #[test]
    fn default_windows_close_as_aws_documents() {
        // In hours: after one hour; in days: at the end of the UTC day.
        let hourly = RotationRules::parse(None, Some("rate(6 hours)"), None).unwrap();
        let start = at("2026-01-01T13:30:00Z");
        assert_eq!(hourly.window_end(start), at("2026-01-01T14:30:00Z"));
        let daily = RotationRules::parse(None, Some("cron(0 16 * * ? *)"), None).unwrap();
        assert_eq!(
            daily.window_end(at("2026-01-01T16:00:00Z")),
            at("2026-01-02T00:00:00Z")
        );
        let given = RotationRules::parse(None, Some("cron(0 16 * * ? *)"), Some("3h")).unwrap();
        assert_eq!(
            given.window_end(at("2026-01-01T16:00:00Z")),
            at("2026-01-01T19:00:00Z")
        );
    }

    #[test]
    fn windows_may_not_run_into_the_next_window_or_the_next_day() {
        let refused = |e: &str, d: &str| {
            RotationRules::parse(None, Some(e), Some(d)) == Err(ScheduleError::Window(d.into()))
        };
        assert!(refused("rate(4 hours)", "5h"));
        assert!(refused("cron(0 23 * * ? *)", "3h"));
        assert!(refused("cron(0 1,9,17 * * ? *)", "9h"));
        assert!(RotationRules::parse(None, Some("rate(4 hours)"), Some("4h")).is_ok());
        assert!(RotationRules::parse(None, Some("cron(0 21 * * ? *)"), Some("3h")).is_ok());
        assert!(RotationRules::parse(None, Some("cron(0 1,9,17 * * ? *)"), Some("7h")).is_ok());
        assert!(RotationRules::parse(Some(30), None, Some("24h")).is_ok());
    }

    /// Regression: `rate(N hours)` windows opened N hours after the last rotation (19:25 +
    /// 4h = 23:25, its window running past midnight, then drifting); AWS's open every N hours
    /// from midnight, on the hour.
    #[test]
    fn hourly_rates_open_on_the_hour_from_midnight() {
        let r = RotationRules::parse(None, Some("rate(4 hours)"), None).unwrap();
        assert_eq!(
            r.next_after(at("2026-01-01T19:25:54Z")),
            Some(at("2026-01-01T20:00:00Z"))
        );
        assert_eq!(
            r.next_after(at("2026-01-01T23:40:15Z")),
            Some(at("2026-01-02T00:00:00Z"))
        );
        // 5 does not divide 24: the day's last window is 20:00, then midnight again.
        let five = RotationRules::parse(None, Some("rate(5 hours)"), None).unwrap();
        assert_eq!(
            five.next_after(at("2026-01-01T20:10:00Z")),
            Some(at("2026-01-02T00:00:00Z"))
        );
        // A window may not run into the next day: 20:00 + 5h would.
        assert_eq!(
            RotationRules::parse(None, Some("rate(5 hours)"), Some("5h")),
            Err(ScheduleError::Window("5h".into()))
        );
        assert!(RotationRules::parse(None, Some("rate(5 hours)"), Some("4h")).is_ok());
    }

    /// Regression: `L` in the day-of-week field (`6L`, the last Friday; `L`, the last
    /// Saturday), which AWS's schedule expressions allow, was refused.
    #[test]
    fn last_weekday_of_the_month() {
        let r = RotationRules::parse(None, Some("cron(0 0 ? * 6L *)"), None).unwrap();
        // The last Friday of January 2026 is the 30th.
        assert_eq!(
            r.next_after(at("2026-01-01T00:00:00Z")),
            Some(at("2026-01-30T00:00:00Z"))
        );
        let sat = RotationRules::parse(None, Some("cron(0 0 ? * L *)"), None).unwrap();
        assert_eq!(
            sat.next_after(at("2026-01-01T00:00:00Z")),
            Some(at("2026-01-31T00:00:00Z"))
        );
        assert!(RotationRules::parse(None, Some("cron(0 0 ? * 9L *)"), None).is_err());
        assert!(RotationRules::parse(None, Some("cron(0 0 ? * 6LL *)"), None).is_err());
    }

    #[test]
    fn automatically_after_days_is_calculated_from_the_schedule() {
        let last = at("2026-01-01T16:05:00Z");
        let rate = RotationRules::parse(None, Some("rate(10 days)"), None).unwrap();
        assert_eq!(rate.automatically_after_days(last), Some(10));
        let weekly = RotationRules::parse(None, Some("cron(0 16 ? * MON *)"), None).unwrap();
        assert_eq!(weekly.automatically_after_days(last), Some(7));
        let hourly = RotationRules::parse(None, Some("rate(6 hours)"), None).unwrap();
        assert_eq!(hourly.automatically_after_days(last), None);
    }

    #[test]
    fn rates_parse_and_reject_bad_units() {
        assert_eq!(parse_expression("rate(10 days)"), Ok(Schedule::Days(10)));
        assert_eq!(parse_expression("rate(4 hours)"), Ok(Schedule::Hours(4)));
        assert!(parse_expression("rate(2 hours)").is_err());
        assert!(parse_expression("rate(5 minutes)").is_err());
        assert!(parse_expression("rate(0 days)").is_err());
    }

    #[test]
    fn cron_next_run_follows_aws_fields() {
        let Schedule::Cron(c) = parse_expression("cron(0 16 1,15 * ? *)").unwrap() else {
            panic!()
        };
        assert_eq!(
            c.next_after(at("2026-03-01T16:00:00Z")),
            Some(at("2026-03-15T16:00:00Z"))
        );
        // Second Tuesday of the month, 08:30.
        let Schedule::Cron(c) = parse_expression("cron(30 8 ? * TUE#2 *)").unwrap() else {
            panic!()
        };
        assert_eq!(
            c.next_after(at("2026-03-01T00:00:00Z")),
            Some(at("2026-03-10T08:30:00Z"))
        );
        let Schedule::Cron(c) = parse_expression("cron(0 0 L FEB ? 2028)").unwrap() else {
            panic!()
        };
        assert_eq!(
            c.next_after(at("2026-01-01T00:00:00Z")),
            Some(at("2028-02-29T00:00:00Z"))
        );
    }

    #[test]
    fn cron_schedules_at_most_every_four_hours() {
        // Bug: cron(* * * * ? *) was accepted and rotated the secret every minute.
        for too_often in [
            "* * * * ? *",
            "0 * * * ? *",
            "0 */1 * * ? *",
            "0 0,3 * * ? *",
            "0/30 8 * * ? *",
            "0 0,22 * * ? *",
        ] {
            assert!(Cron::parse(too_often).is_err(), "{too_often}");
        }
        for ok in [
            "0 8 * * ? *",
            "0 */4 * * ? *",
            "15 0,4,8,12,16,20 * * ? *",
            "0 2,20 ? * MON *",
        ] {
            assert!(Cron::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn cron_needs_six_fields_and_one_question_mark() {
        assert!(parse_expression("cron(0 16 * * *)").is_err());
        assert!(parse_expression("cron(0 16 * * * *)").is_err());
        assert!(parse_expression("cron(0 16 ? * ? *)").is_err());
        assert!(parse_expression("cron(61 16 ? * MON *)").is_err());
    }

    #[test]
    fn durations_are_1_to_24_hours_and_exclusive_with_days() {
        assert_eq!(parse_duration("3h"), Ok(3 * 3600));
        assert!(parse_duration("25h").is_err());
        assert!(parse_duration("3").is_err());
        assert_eq!(
            RotationRules::parse(Some(1), Some("rate(1 days)"), None),
            Err(ScheduleError::Both)
        );
        assert_eq!(
            RotationRules::parse(Some(1001), None, None),
            Err(ScheduleError::Days(1001))
        );
    }

    proptest! {
        #[test]
        fn cron_next_is_later_and_matches(min in 0u32..60, hour in 0u32..24, t in 0i64..4_000_000_000) {
            let Schedule::Cron(c) = parse_expression(&format!("cron({min} {hour} ? * MON-FRI *)")).unwrap() else {
                panic!()
            };
            let n = c.next_after(t).unwrap();
            prop_assert!(n > t);
            prop_assert!(n - t <= 4 * 86_400);
            let d = OffsetDateTime::from_unix_timestamp(n).unwrap();
            prop_assert_eq!((u32::from(d.hour()), u32::from(d.minute())), (hour, min));
            prop_assert!(!matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday));
        }
    }
}
