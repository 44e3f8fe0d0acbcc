//! Virtual time, durations as people write them ("90s", "2h"), and the
//! calendar that turns virtual time into the dates on the wire (field 7, 9A).

use std::fmt;

/// Virtual time: microseconds since the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimTime(pub u64);

/// A length of virtual time in microseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub u64);

impl Duration {
    /// Zero.
    pub const ZERO: Self = Self(0);
    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms * 1_000)
    }
    /// From seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self(s * 1_000_000)
    }
    /// From seconds as a float (negative and NaN become zero).
    pub fn from_secs_f64(s: f64) -> Self {
        if s.is_finite() && s > 0.0 { Self((s * 1e6).round() as u64) } else { Self(0) }
    }
    /// Microseconds.
    pub const fn micros(self) -> u64 {
        self.0
    }
    /// Seconds as a float.
    pub fn secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// Parses "250ms", "90s", "1.5s", "15m", "2h", "1h30m", "1d" (units us,
    /// ms, s, m, h, d; parts add up).
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty duration".into());
        }
        let mut total: f64 = 0.0;
        let mut rest = t;
        while !rest.is_empty() {
            let num_end =
                rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
            if num_end == 0 {
                return Err(format!("expected a number at {rest:?}"));
            }
            let (num, after) = rest.split_at(num_end);
            let value: f64 = num.parse().map_err(|_| format!("{num:?} is not a number"))?;
            let unit_end =
                after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
            let (unit, next) = after.split_at(unit_end);
            let scale = match unit.trim() {
                "us" | "µs" => 1.0,
                "ms" => 1e3,
                "s" => 1e6,
                "m" | "min" => 60e6,
                "h" => 3600e6,
                "d" => 86_400e6,
                "" => return Err(format!("{num} needs a unit (ms, s, m, h, d)")),
                u => return Err(format!("unknown unit {u:?} (use ms, s, m, h or d)")),
            };
            total += value * scale;
            rest = next;
        }
        if total > 1e17 {
            return Err("duration too long".into());
        }
        Ok(Self(total.round() as u64))
    }
}

impl fmt::Display for Duration {
    /// The shortest exact form: "1h30m", "90ms", "2.5s".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0;
        if us == 0 {
            return f.write_str("0s");
        }
        if !us.is_multiple_of(1_000_000) {
            return if us < 1_000_000 {
                let ms = format!("{}.{:03}", us / 1000, us % 1000);
                write!(f, "{}ms", ms.trim_end_matches('0').trim_end_matches('.'))
            } else {
                write!(f, "{}s", fmt_secs(us))
            };
        }
        let mut s = us / 1_000_000;
        let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
        s %= 60;
        for (v, u) in [(d, "d"), (h, "h"), (m, "m"), (s, "s")] {
            if v > 0 {
                write!(f, "{v}{u}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn fmt_secs(us: u64) -> String {
    let s = format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    s.trim_end_matches('0').to_string()
}

impl std::ops::Add<Duration> for SimTime {
    type Output = SimTime;
    fn add(self, d: Duration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl SimTime {
    /// Time since `earlier` (zero if it is later).
    pub fn since(self, earlier: SimTime) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }

    /// "hh:mm:ss.mmm" since the start, for people.
    pub fn clock(self) -> String {
        let ms = self.0 / 1000;
        format!(
            "{:02}:{:02}:{:02}.{:03}",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        )
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "expected a duration like \"90s\", \"15m\" or \"2h\": {e}"
            ))
        })
    }
}

/// Wall-calendar date and time (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// Year.
    pub year: i64,
    /// Month 1-12.
    pub month: u32,
    /// Day 1-31.
    pub day: u32,
    /// Hour 0-23.
    pub hour: u32,
    /// Minute.
    pub minute: u32,
    /// Second.
    pub second: u32,
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A civil date to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl DateTime {
    /// Parses "2026-11-24T09:00:00" (or with a space, or date only).
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("expected a date like \"2026-11-24T09:00:00\", found {s:?}");
        let (date, time) = s.trim().split_once(['T', ' ']).unwrap_or((s.trim(), "00:00:00"));
        let d: Vec<&str> = date.split('-').collect();
        let t: Vec<&str> = time.split(':').collect();
        let [y, mo, da] = d.as_slice() else { return Err(bad()) };
        let num = |x: &str| x.parse::<u32>().map_err(|_| bad());
        let (hh, mm, ss) = match t.as_slice() {
            [h, m] => (num(h)?, num(m)?, 0),
            [h, m, s] => (num(h)?, num(m)?, num(s)?),
            _ => return Err(bad()),
        };
        let v = Self {
            year: i64::from(num(y)?),
            month: num(mo)?,
            day: num(da)?,
            hour: hh,
            minute: mm,
            second: ss,
        };
        let leap = v.year % 4 == 0 && (v.year % 100 != 0 || v.year % 400 == 0);
        let days = match v.month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        if !(1..=12).contains(&v.month)
            || !(1..=days).contains(&v.day)
            || hh > 23
            || mm > 59
            || ss > 59
        {
            return Err(bad());
        }
        Ok(v)
    }

    /// Seconds since 1970-01-01T00:00:00.
    pub fn unix(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour * 3600 + self.minute * 60 + self.second)
    }

    /// The date and time `secs` seconds after 1970-01-01T00:00:00.
    pub fn from_unix(secs: i64) -> Self {
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let r = secs.rem_euclid(86_400) as u32;
        Self { year, month, day, hour: r / 3600, minute: r / 60 % 60, second: r % 60 }
    }

    /// Fields 7, 12 and 13 as numbers (MMDDhhmmss, hhmmss, MMDD), to write
    /// as digits without formatting strings.
    pub fn wire_numbers(&self) -> (u64, u64, u64) {
        let hms = u64::from(self.hour * 10_000 + self.minute * 100 + self.second);
        let md = u64::from(self.month * 100 + self.day);
        (md * 1_000_000 + hms, hms, md)
    }

    /// Field 7: MMDDhhmmss (every request carries it: written without `format!`).
    pub fn mmddhhmmss(&self) -> String {
        zero_padded(self.wire_numbers().0, 10)
    }

    /// Field 37, the retrieval reference number: the year's last digit, the
    /// day of the year, the hour and the STAN (YDDDhh + 6 digits).
    pub fn rrn(&self, stan: u32) -> String {
        let yddd = self.year.rem_euclid(10).unsigned_abs() * 1000 + u64::from(self.day_of_year());
        zero_padded((yddd * 100 + u64::from(self.hour)) * 1_000_000 + u64::from(stan), 12)
    }

    /// Field 12: hhmmss.
    pub fn hhmmss(&self) -> String {
        format!("{:02}{:02}{:02}", self.hour, self.minute, self.second)
    }

    /// Field 13: MMDD.
    pub fn mmdd(&self) -> String {
        format!("{:02}{:02}", self.month, self.day)
    }

    /// Tag 9A: YYMMDD as BCD.
    pub fn yymmdd_bcd(&self) -> [u8; 3] {
        let bcd = |v: u32| (((v / 10 % 10) << 4) | (v % 10)) as u8;
        [bcd(self.year.rem_euclid(100) as u32), bcd(self.month), bcd(self.day)]
    }

    /// YYMM, to compare with a card's expiry.
    pub fn yymm(&self) -> String {
        zero_padded(self.year.rem_euclid(100).unsigned_abs() * 100 + u64::from(self.month), 4)
    }

    /// Day of the year, 1-366.
    pub fn day_of_year(&self) -> u32 {
        (days_from_civil(self.year, self.month, self.day) - days_from_civil(self.year, 1, 1) + 1)
            as u32
    }
}

/// The last `width` decimal digits of `v`, zero-padded.
pub(crate) fn zero_padded(mut v: u64, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    // Only ASCII digits were written.
    String::from_utf8(digits).unwrap_or_default()
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Maps virtual time to calendar time from a fixed start (never the wall clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    start_unix: i64,
}

impl Calendar {
    /// A calendar whose virtual time zero is `start`.
    pub fn new(start: DateTime) -> Self {
        Self { start_unix: start.unix() }
    }

    /// The calendar time at virtual time `t`.
    pub fn at(&self, t: SimTime) -> DateTime {
        DateTime::from_unix(self.start_unix + (t.0 / 1_000_000) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_date_fields_are_the_digits_format_would_write() {
        for secs in [0i64, 1_700_000_000, 1_735_689_599, 4_102_444_800 + 86_399] {
            let t = DateTime::from_unix(secs);
            assert_eq!(t.yymm(), format!("{:02}{:02}", t.year.rem_euclid(100), t.month));
            assert_eq!(
                t.mmddhhmmss(),
                format!("{:02}{:02}{:02}{:02}{:02}", t.month, t.day, t.hour, t.minute, t.second)
            );
            for stan in [1, 42, 999_999] {
                assert_eq!(
                    t.rrn(stan),
                    format!(
                        "{}{:03}{:02}{:06}",
                        t.year.rem_euclid(10),
                        t.day_of_year(),
                        t.hour,
                        stan
                    )
                );
            }
        }
    }

    #[test]
    fn durations_parse_and_print() {
        for (s, us) in [
            ("90s", 90_000_000),
            ("15m", 900_000_000),
            ("2h", 7_200_000_000),
            ("1h30m", 5_400_000_000),
            ("250ms", 250_000),
            ("1.5s", 1_500_000),
            ("1d", 86_400_000_000),
        ] {
            assert_eq!(Duration::parse(s), Ok(Duration(us)), "{s}");
        }
        assert_eq!(Duration(5_400_000_000).to_string(), "1h30m");
        assert_eq!(Duration(250_000).to_string(), "250ms");
        assert_eq!(Duration(1_500_000).to_string(), "1.5s");
        assert!(Duration::parse("90").unwrap_err().contains("needs a unit"));
        assert!(Duration::parse("3 weeks").unwrap_err().contains("unknown unit"));
        assert!(Duration::parse("").is_err());
    }

    #[test]
    fn calendar_round_trips_and_formats_fields() {
        let d = DateTime::parse("2026-11-24T09:00:00").unwrap();
        assert_eq!(DateTime::from_unix(d.unix()), d);
        let cal = Calendar::new(d);
        let later = cal.at(SimTime(3_600_000_000 * 16));
        assert_eq!(later.to_string(), "2026-11-25T01:00:00");
        assert_eq!(later.mmddhhmmss(), "1125010000");
        assert_eq!(later.yymmdd_bcd(), [0x26, 0x11, 0x25]);
        assert_eq!(DateTime::parse("2024-02-29").unwrap().day_of_year(), 60);
        assert!(DateTime::parse("2026-13-01").is_err());
        assert!(DateTime::parse("2026-02-30").is_err());
        assert!(DateTime::parse("2024-02-29").is_ok());
    }
}
