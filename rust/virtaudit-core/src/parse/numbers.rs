//! Numbers parsed as libvirt parses them.

/// Parses a number as libvirt's `virStrToLong_ui(..., 0, ...)` does: `0x` hex, leading `0` octal.
pub fn parse_u32(value: &str) -> Option<u32> {
    let value = value.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let value = value.strip_prefix('+').unwrap_or(value);
    let (digits, radix) = if let Some(hex) = value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        (hex, 16)
    } else if value.len() > 1 && value.starts_with('0') {
        (&value[1..], 8)
    } else {
        (value, 10)
    };
    // from_str_radix accepts a leading '+', strtoul does too; a '-' is refused by both for unsigned.
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// Counts libvirt reads with `virXPathUInt` (`virStrToLong_ui` in base 10 over the whole string), such as
/// `<iothreads>`: decimal only, leading white space and `+` allowed, nothing after the digits.
pub(super) fn parse_u32_decimal(value: &str) -> Option<u32> {
    let value = value.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let digits = value.strip_prefix('+').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `id` and `pid` are signed decimal numbers for libvirt (`virStrToLong_i` / `_ll` with base 10).
pub(super) fn parse_i64(value: &str) -> Option<i64> {
    value
        .trim_start_matches(|c: char| c.is_ascii_whitespace())
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_strtoul_base_zero() {
        assert_eq!(parse_u32("0x1f"), Some(31));
        assert_eq!(parse_u32("0X10"), Some(16));
        assert_eq!(parse_u32("010"), Some(8));
        assert_eq!(parse_u32("0"), Some(0));
        assert_eq!(parse_u32("12"), Some(12));
        assert_eq!(parse_u32(""), None);
        assert_eq!(parse_u32("0x"), None);
        assert_eq!(parse_u32("-1"), None);
        assert_eq!(parse_u32("0x100000000"), None);
        assert_eq!(parse_u32("09"), None);
        assert_eq!(parse_u32("zz"), None);
    }

    #[test]
    fn counts_are_decimal() {
        assert_eq!(parse_u32_decimal("2"), Some(2));
        assert_eq!(parse_u32_decimal(" +010"), Some(10));
        assert_eq!(parse_u32_decimal("0x10"), None);
        assert_eq!(parse_u32_decimal("2 "), None);
        assert_eq!(parse_u32_decimal("-1"), None);
        assert_eq!(parse_u32_decimal(""), None);
        assert_eq!(parse_u32_decimal("4294967296"), None);
    }
}
