//! kiln's stored times (RFC 3339 in UTC, as `kiln_track::format_rfc3339` writes them) back to the
//! unix milliseconds MLflow takes.

/// Unix milliseconds of `2026-05-07T10:15:00.123Z` (fraction optional, `Z` required); `None`
/// for any other text.
pub(crate) fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: i64 = date_parts.next()?.parse().ok()?;
    let day: i64 = date_parts.next()?.parse().ok()?;
    let (clock, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut clock_parts = clock.splitn(3, ':');
    let hour: i64 = clock_parts.next()?.parse().ok()?;
    let minute: i64 = clock_parts.next()?.parse().ok()?;
    let second: i64 = clock_parts.next()?.parse().ok()?;
    let digits = fraction.get(..fraction.len().min(3))?;
    let milli: i64 = format!("{digits:0<3}").parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + milli)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00.000Z"), Some(0));
        // 2000-02-29T12:34:56.789Z: 11016 days and 45296.789 seconds after the epoch.
        assert_eq!(parse_rfc3339_ms("2000-02-29T12:34:56.789Z"), Some(11_016 * 86_400_000 + 45_296_789));
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(parse_rfc3339_ms("2024-12-31T23:59:59Z"), Some(1_735_689_599_000));
    }

    #[test]
    fn reads_back_what_kiln_track_writes() {
        let mut ms = -86_400_000_i64 * 800;
        while ms < 4_102_444_800_000 {
            assert_eq!(parse_rfc3339_ms(&kiln_track::format_rfc3339(ms)), Some(ms), "{ms}");
            ms += 7_777_777_777;
        }
    }

    #[test]
    fn other_text_is_refused() {
        for bad in ["", "2024-12-31", "2024-12-31T23:59:59", "2024-13-01T00:00:00Z", "yesterday"] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }
}
