//! Times of labels as label files give them: milliseconds since the epoch, or RFC 3339 text.

/// A time as milliseconds since the Unix epoch: an integer (taken as milliseconds), an RFC 3339
/// time (`2026-12-06T08:15:00Z`, `2026-12-06 08:15:00.250+01:00`; without an offset it is UTC),
/// or a date (`2026-12-06`, midnight UTC). `None` when the text is none of these.
pub fn parse_time_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    let bytes = text.as_bytes();
    let date = bytes.get(..10)?;
    if date[4] != b'-' || date[7] != b'-' {
        return None;
    }
    let days = days_from_civil(number(&date[..4])?, number(&date[5..7])?, number(&date[8..10])?)?;
    let rest = &text[10..];
    if rest.is_empty() {
        return Some(days * 86_400_000);
    }
    let rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix('t')).or_else(|| rest.strip_prefix(' '))?;
    let clock = rest.as_bytes();
    if clock.len() < 8 || clock[2] != b':' || clock[5] != b':' {
        return None;
    }
    let (h, m, s) = (number(&clock[..2])?, number(&clock[3..5])?, number(&clock[6..8])?);
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let (millis, zone) = fraction(&rest[8..])?;
    let offset = offset_minutes(zone)?;
    Some(days * 86_400_000 + (h * 3600 + m * 60 + s - offset * 60) * 1000 + millis)
}

/// The milliseconds of an optional `.fff...` fraction, and the text after it.
fn fraction(text: &str) -> Option<(i64, &str)> {
    let Some(digits) = text.strip_prefix('.') else { return Some((0, text)) };
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let padded: String = digits[..end].chars().chain("000".chars()).take(3).collect();
    Some((padded.parse().ok()?, &digits[end..]))
}

/// `Z`, empty (UTC) or `±HH:MM` as minutes east of UTC.
fn offset_minutes(zone: &str) -> Option<i64> {
    match zone {
        "" | "Z" | "z" => Some(0),
        _ => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let rest = &zone.as_bytes()[1..];
            if rest.len() != 5 || rest[2] != b':' {
                return None;
            }
            Some(sign * (number(&rest[..2])? * 60 + number(&rest[3..])?))
        }
    }
}

fn number(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_kiln_writes_them_and_in_the_other_forms() {
        // 2026-12-06T08:15:00Z: 20793 days after 1970-01-01 (56 years with 14 leap days,
        // 20454 days to 2026-01-01, plus 339 days to 6 December) and 8h15m
        let expected = 20_793 * 86_400_000 + (8 * 3600 + 15 * 60) * 1000;
        assert_eq!(parse_time_ms("2026-12-06T08:15:00Z"), Some(expected));
        assert_eq!(parse_time_ms("2026-12-06 08:15:00"), Some(expected));
        assert_eq!(parse_time_ms("2026-12-06T09:15:00+01:00"), Some(expected));
        assert_eq!(parse_time_ms("2026-12-06T08:15:00.25Z"), Some(expected + 250));
        assert_eq!(parse_time_ms("2026-12-06"), Some(expected - (8 * 3600 + 15 * 60) * 1000));
        assert_eq!(parse_time_ms(&expected.to_string()), Some(expected));
        for ms in [0, 951_782_400_123, expected + 7, 4_102_444_799_999] {
            assert_eq!(parse_time_ms(&kiln_track::format_rfc3339(ms)), Some(ms));
        }
        for bad in ["", "yesterday", "2026-13-01", "2026-12-06T25:00:00Z", "2026-12-06T08:15", "2026-12-06T08:15:00+1"]
        {
            assert_eq!(parse_time_ms(bad), None, "{bad}");
        }
    }
}
