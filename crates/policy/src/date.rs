//! Dates in condition values and request context: W3C ISO 8601 or epoch
//! seconds.
//!
//! The grammar is IAM's lenient one, pinned by the moto vectors: an all-digit
//! value (optionally negative) is epoch seconds; otherwise `date[Ttime]` where
//! the date has one to three `-`-separated fields (year, month, day), the time
//! has one to three `:`-separated fields with an optional fraction of at most 9
//! digits, and the zone is `Z`, `±hh` or `±hh:mm`. `01T` (the year 1) is
//! therefore valid, `2016-12-13t2:00:00+1` is not.

/// An instant, in nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i128);

const MIN_YEAR: i64 = -292_275_054;
const MAX_YEAR: i64 = 292_278_993;
const NANOS: i128 = 1_000_000_000;

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

// Howard Hinnant's days_from_civil, valid for the whole proleptic Gregorian
// range used here.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a date value; `None` if it is not one.
pub fn parse(s: &str) -> Option<Timestamp> {
    let body = s.strip_prefix('-').unwrap_or(s);
    if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: epoch seconds; out of i64 range is invalid, not a year.
        let v: i64 = s.parse().ok()?;
        return Some(Timestamp(i128::from(v) * NANOS));
    }
    let (date, time) = match s.find(['T', 't']) {
        Some(i) => (s.get(..i)?, Some(s.get(i + 1..)?)),
        None => (s, None),
    };
    let (neg, date_body) = match date.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, date),
    };
    let mut fields = date_body.split('-');
    let year = digits(fields.next()?)?;
    let year = if neg { -year } else { year };
    let month = match fields.next() {
        Some(m) => digits(m)?,
        None => 1,
    };
    let day = match fields.next() {
        Some(d) => digits(d)?,
        None => 1,
    };
    if fields.next().is_some()
        || !(MIN_YEAR..=MAX_YEAR).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
    {
        return None;
    }
    let mut secs = days_from_civil(year, month, day).checked_mul(86_400)?;
    let mut nanos: i128 = 0;
    if let Some(time) = time {
        let (clock, offset) = split_zone(time)?;
        secs = secs.checked_sub(offset)?;
        if !clock.is_empty() {
            let mut parts = clock.split(':');
            let hour = small(parts.next()?, 23)?;
            let minute = match parts.next() {
                Some(m) => small(m, 59)?,
                None => 0,
            };
            let (second, frac) = match parts.next() {
                Some(sec) => match sec.split_once('.') {
                    Some((whole, frac)) => (small(whole, 59)?, fraction(frac)?),
                    None => (small(sec, 59)?, 0),
                },
                None => (0, 0),
            };
            if parts.next().is_some() {
                return None;
            }
            secs = secs.checked_add(hour * 3600 + minute * 60 + second)?;
            nanos = frac;
        }
    }
    Some(Timestamp(i128::from(secs) * NANOS + nanos))
}

fn small(s: &str, max: i64) -> Option<i64> {
    if s.len() > 2 {
        return None;
    }
    digits(s).filter(|v| *v <= max)
}

fn fraction(s: &str) -> Option<i128> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i128 = s.parse().ok()?;
    Some(v * 10_i128.pow(9 - s.len() as u32))
}

/// Splits `hh:mm:ss±zz` into the clock and the zone offset in seconds.
fn split_zone(time: &str) -> Option<(&str, i64)> {
    if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    match time.rfind(['+', '-']) {
        Some(i) => {
            let clock = time.get(..i)?;
            let sign = if time.get(i..i + 1)? == "-" { -1 } else { 1 };
            let zone = time.get(i + 1..)?;
            let (h, m) = match zone.split_once(':') {
                Some((h, m)) => (h, Some(m)),
                None => (zone, None),
            };
            if h.len() != 2 {
                return None;
            }
            let h = small(h, 23)?;
            let m = match m {
                Some(m) if m.len() == 2 => small(m, 59)?,
                Some(_) => return None,
                None => 0,
            };
            Some((clock, sign * (h * 3600 + m * 60)))
        }
        None => Some((time, 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iso_and_epoch() {
        let a = parse("2017-07-01T00:00:00Z").unwrap();
        assert_eq!(a, Timestamp(1_498_867_200 * NANOS));
        assert_eq!(parse("1498867200"), Some(a));
        assert_eq!(parse("2017-07-01T02:00:00+02:00"), Some(a));
        assert_eq!(parse("2017-07-01"), Some(a));
        assert!(parse("2016-12-13T21:20:37.593194+00:00").is_some());
        assert!(parse("2016-12-13t2:00:00.593194+23").is_some());
        assert!(parse("01T").is_some());
        assert!(parse("-292275054").is_some());
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "sdfdsf",
            "234-13",
            "2016-12-13t2:00:00.593194+1",
            "2016-12-13t2:00:00.1999999999+10:59",
            "9223372036854775808",
            "",
            "2017-07-01T25:00:00Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
