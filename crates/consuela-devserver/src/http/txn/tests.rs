use super::*;

#[test]
fn base64_offsets_match_go() {
    assert_eq!(base64_error_offset(b"!!"), 0);
    assert_eq!(base64_error_offset(b"abc!"), 3);
    assert_eq!(base64_error_offset(b"abc"), 0);
    assert_eq!(base64_error_offset(b"abcd!"), 4);
    assert_eq!(base64_error_offset(b"ab=c"), 2);
}

#[test]
fn percent_t_follows_go_fmt() {
    let t = |v: serde_json::Value| go_percent_t(&v, true);
    assert_eq!(
        t(serde_json::json!({"b": 1, "a": "x"})),
        "map[%!t(string=a):%!t(string=x) %!t(string=b):%!t(float64=1)]"
    );
    assert_eq!(
        t(serde_json::json!({"a": [1, "x", null, true]})),
        "map[%!t(string=a):[%!t(float64=1) %!t(string=x) <nil> true]]"
    );
    assert_eq!(t(serde_json::Value::Null), "%!t(<nil>)");
    assert_eq!(t(serde_json::json!("abc")), "%!t(string=abc)");
    assert_eq!(t(serde_json::json!(false)), "false");
    assert_eq!(t(serde_json::json!({})), "map[]");
}

#[test]
fn floats_print_as_go_v() {
    assert_eq!(go_float(1.0), "1");
    assert_eq!(go_float(1000.0), "1000");
    assert_eq!(go_float(1.5), "1.5");
    assert_eq!(go_float(1e21), "1e+21");
    assert_eq!(go_float(0.00001), "1e-05");
    assert_eq!(go_float(0.0001), "0.0001");
    assert_eq!(go_float(-2.5e-7), "-2.5e-07");
    assert_eq!(go_float(0.0), "0");
}

#[test]
fn body_errors_follow_fixup_kv_ops() {
    let e = |b: &str| parse_ops(b.as_bytes()).unwrap_err();
    assert_eq!(e("null"), "unexpected raw type: %!t(<nil>)");
    assert_eq!(e("[1]"), "unexpected raw op type: float64");
    assert_eq!(e("[null]"), "unexpected raw op type: <nil>");
    assert_eq!(e(r#"[{"KV":"x"}]"#), "unexpected raw KV type: string");
    assert_eq!(
        e(r#"[{"KV":{"Value":5}}]"#),
        "unexpected value type: float64"
    );
    assert_eq!(
        e(r#"[{"KV":{"Verb":5,"Key":"k"}}]"#),
        "1 error(s) decoding:\n\n* '[0].KV.Verb' expected type 'api.KVOp', got unconvertible type 'float64'"
    );
    let ops = parse_ops(br#"[{"KV":null},{"kv":{"verb":"get","key":"a"}}]"#).unwrap();
    assert!(ops[0].is_none());
    assert_eq!(ops[1].as_ref().unwrap().key, "a");
}
