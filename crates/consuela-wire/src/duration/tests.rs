use super::*;

#[test]
fn parses_go_grammar() {
    assert_eq!(parse_go_duration("10s"), Ok(10 * SEC as i64));
    assert_eq!(parse_go_duration("1.5h"), Ok(90 * MIN as i64));
    assert_eq!(parse_go_duration("1h30m"), Ok(90 * MIN as i64));
    assert_eq!(parse_go_duration("300ms"), Ok(300 * MS as i64));
    assert_eq!(parse_go_duration("0"), Ok(0));
    assert_eq!(parse_go_duration("-1s"), Ok(-(SEC as i64)));
    assert_eq!(parse_go_duration("+2.5s"), Ok(2_500_000_000));
    assert_eq!(parse_go_duration("1µs"), Ok(1000));
    assert_eq!(parse_go_duration(".5s"), Ok(500_000_000));
    assert_eq!(parse_go_duration("15000ms"), Ok(15 * SEC as i64));
}

#[test]
fn errors_read_like_go() {
    assert_eq!(
        parse_go_duration("abc").unwrap_err().to_string(),
        r#"time: invalid duration "abc""#
    );
    assert_eq!(
        parse_go_duration("10").unwrap_err().to_string(),
        r#"time: missing unit in duration "10""#
    );
    assert_eq!(
        parse_go_duration("").unwrap_err().to_string(),
        r#"time: invalid duration """#
    );
    assert_eq!(
        parse_go_duration("3xs").unwrap_err().to_string(),
        r#"time: unknown unit "xs" in duration "3xs""#
    );
    assert!(parse_go_duration("99999999999999999999h").is_err());
    assert!(parse_go_duration(".s").is_err());
}

#[test]
fn formats_like_go() {
    assert_eq!(format_go_duration(0), "0s");
    assert_eq!(format_go_duration(10 * SEC as i64), "10s");
    assert_eq!(format_go_duration(24 * HOUR as i64), "24h0m0s");
    assert_eq!(format_go_duration(90 * SEC as i64), "1m30s");
    assert_eq!(format_go_duration(1_500_000_000), "1.5s");
    assert_eq!(format_go_duration(100 * MS as i64), "100ms");
    assert_eq!(format_go_duration(1500), "1.5\u{b5}s");
    assert_eq!(format_go_duration(12), "12ns");
    assert_eq!(format_go_duration(-(SEC as i64)), "-1s");
}

#[test]
fn go_duration_reads_numbers_and_strings() {
    let d: GoDuration = serde_json::from_str("15000000000").unwrap();
    assert_eq!(d, GoDuration(15_000_000_000));
    let d: GoDuration = serde_json::from_str("\"15s\"").unwrap();
    assert_eq!(d, GoDuration(15_000_000_000));
    assert_eq!(serde_json::to_string(&d).unwrap(), "15000000000");
    assert!(serde_json::from_str::<GoDuration>("\"abc\"").is_err());
}

#[test]
fn round_trips_format_then_parse() {
    for ns in [
        1i64,
        999,
        1000,
        1_500_000,
        59 * SEC as i64,
        3601 * SEC as i64 + 5,
        -7 * MS as i64,
    ] {
        assert_eq!(parse_go_duration(&format_go_duration(ns)), Ok(ns), "{ns}");
    }
}
