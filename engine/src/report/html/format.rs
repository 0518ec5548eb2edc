//! Text for the HTML report: escaping, and numbers, sizes, durations and
//! dates written the way a reader scans them (thousands separators, binary
//! size units, UTC dates).
//!
//! Pure functions of their input; where the text goes is `html`'s and
//! `chart`'s business. Milliseconds follow the console's rule
//! ([`format_ms`](crate::report::console::format_ms)).

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An integer with thousands separators: `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    // The first group holds 1 to 3 digits; every later group exactly 3.
    let first = match digits.len() % 3 {
        0 => 3,
        short => short,
    };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    out.push_str(&digits[..first]);
    for start in (first..digits.len()).step_by(3) {
        out.push(',');
        out.push_str(&digits[start..start + 3]);
    }
    out
}

/// A rate or other measured quantity: whole above 100, else 1 or 2 decimals.
pub fn rate(value: f64) -> String {
    if !value.is_finite() {
        return "0".to_string();
    }
    if value >= 99.5 {
        count(value.round() as u64)
    } else if value >= 9.95 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// A percentage with up to two decimals and no trailing zeros: `0.25%`, `12.5%`, `50%`.
pub fn percent(value: f64) -> String {
    let text = if value >= 9.95 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}%")
}

/// Bytes in binary units: `512 B`, `1.5 KiB`, `12.3 MiB`.
pub fn bytes(value: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut scaled = value.max(0.0);
    let mut unit = 0;
    while scaled >= 1023.95 && unit + 1 < UNITS.len() {
        scaled /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{scaled:.0} B")
    } else if scaled >= 99.95 {
        format!("{scaled:.0} {}", UNITS[unit])
    } else {
        format!("{scaled:.1} {}", UNITS[unit])
    }
}

/// Seconds as a clock-like duration: `45s`, `1m30s`, `2m`, `1h05m`, `1h05m30s`.
pub fn duration_s(seconds: f64) -> String {
    if seconds < 9.95 && seconds.fract() != 0.0 {
        return format!("{seconds:.1}s");
    }
    let total = seconds.max(0.0).round() as u64;
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, 0) => format!("{h}h{m:02}m"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(unix_ms: u64) -> String {
    let seconds = unix_ms / 1_000;
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// (year, month, day) of a day count since 1970-01-01, in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Markup characters become entities; everything else passes through.
    #[test]
    fn escape_replaces_markup_characters() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a> é"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt; é"
        );
    }

    /// Numbers, sizes and durations read as in the tables.
    #[test]
    fn numbers_sizes_and_durations() {
        let counts = [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (1_234_567, "1,234,567"),
        ];
        for (n, text) in counts {
            assert_eq!(count(n), text);
        }
        assert_eq!(
            (rate(1234.4), rate(12.34), rate(0.5)),
            ("1,234".into(), "12.3".into(), "0.50".into())
        );
        assert_eq!(
            (percent(0.0), percent(0.254), percent(12.5)),
            ("0%".into(), "0.25%".into(), "12.5%".into())
        );
        assert_eq!(
            (percent(50.0), percent(100.0), percent(1.3)),
            ("50%".into(), "100%".into(), "1.3%".into())
        );
        assert_eq!(
            (bytes(512.0), bytes(1536.0), bytes(12.3 * 1024.0 * 1024.0)),
            ("512 B".into(), "1.5 KiB".into(), "12.3 MiB".into())
        );
        let durations = [
            (9.0, "9s"),
            (2.5, "2.5s"),
            (90.0, "1m30s"),
            (120.0, "2m"),
            (3900.0, "1h05m"),
            (3930.0, "1h05m30s"),
        ];
        for (seconds, text) in durations {
            assert_eq!(duration_s(seconds), text);
        }
    }

    /// UTC dates match known instants, leap days included.
    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(4_107_542_400_999), "2100-03-01 00:00:00 UTC");
    }
}
