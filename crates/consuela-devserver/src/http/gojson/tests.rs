use super::*;

#[test]
fn go_decoder_error_texts() {
    assert_eq!(
        decode_first(b"{bad").unwrap_err(),
        "invalid character 'b' looking for beginning of object key string"
    );
    assert_eq!(decode_first(b"").unwrap_err(), "EOF");
    assert_eq!(decode_first(b"  \n").unwrap_err(), "EOF");
    assert_eq!(decode_first(b"{\"a\":").unwrap_err(), "unexpected EOF");
    assert_eq!(
        decode_first(b"{\"a\" 1}").unwrap_err(),
        "invalid character '1' after object key"
    );
    assert_eq!(
        decode_first(b"[1 2]").unwrap_err(),
        "invalid character '2' after array element"
    );
    assert_eq!(
        decode_first(b"nul!").unwrap_err(),
        "invalid character '!' in literal null (expecting 'l')"
    );
    assert_eq!(
        decode_first(b"x").unwrap_err(),
        "invalid character 'x' looking for beginning of value"
    );
    assert_eq!(
        decode_first(b"{\"a\":1 x").unwrap_err(),
        "invalid character 'x' after object key:value pair"
    );
    // Trailing data after the first value is ignored, like json.Decoder.
    assert_eq!(decode_first(b"{} trailing").unwrap(), serde_json::json!({}));
}

#[test]
fn mapstructure_texts() {
    let v = serde_json::json!({"name": 5, "TTL": 10, "Checks": "x"});
    let m = v.as_object().unwrap();
    let mut f = Fields::new(m, "");
    assert_eq!(f.string("Name"), None);
    assert_eq!(f.string("TTL"), None);
    assert_eq!(f.strings("Checks", "types.CheckID"), None);
    assert_eq!(
        f.finish().unwrap_err(),
        "3 error(s) decoding:\n\n* 'Checks': source data must be an array or slice, got string\n\
         * 'Name' expected type 'string', got unconvertible type 'float64'\n\
         * 'TTL' expected type 'string', got unconvertible type 'float64'"
    );
    assert_eq!(
        expect_object(&serde_json::json!([])).unwrap_err(),
        "'' expected a map, got 'slice'"
    );
}
