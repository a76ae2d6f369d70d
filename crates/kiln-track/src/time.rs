//! Wall-clock time as stored in the database (unix milliseconds) and its RFC 3339 UTC text.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the unix epoch, now. A clock before 1970 reads as 0.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}

/// Formats unix milliseconds as RFC 3339 in UTC with millisecond precision,
/// e.g. `2026-05-07T10:15:00.123Z`.
pub fn format_rfc3339(unix_ms: i64) -> String {
    let (date, hour, minute, second, milli) = split_ms(unix_ms);
    let (year, month, day) = date;
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
}

/// Compact UTC stamp used at the front of run ids: `20260507-101500123`.
pub(crate) fn format_compact(unix_ms: i64) -> String {
    let (date, hour, minute, second, milli) = split_ms(unix_ms);
    let (year, month, day) = date;
    format!("{year:04}{month:02}{day:02}-{hour:02}{minute:02}{second:02}{milli:03}")
}

type Civil = ((i64, u32, u32), i64, i64, i64, i64);

fn split_ms(unix_ms: i64) -> Civil {
    let days = unix_ms.div_euclid(86_400_000);
    let in_day = unix_ms.rem_euclid(86_400_000);
    (civil_from_days(days), in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000)
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, u32::try_from(month).expect("month is in 1..=12"), u32::try_from(day).expect("day is in 1..=31"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29T12:34:56.789Z, a leap day.
        assert_eq!(format_rfc3339(951_827_696_789), "2000-02-29T12:34:56.789Z");
        // 2024-12-31T23:59:59.999Z
        assert_eq!(format_rfc3339(1_735_689_599_999), "2024-12-31T23:59:59.999Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_compact(951_827_696_789), "20000229-123456789");
    }
}
