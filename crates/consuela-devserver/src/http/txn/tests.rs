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
fn percent_t_of_a_map() {
    let v = serde_json::json!({"b": 1, "a": "x"});
    assert_eq!(go_percent_t(&v), "map[a:%!t(string=x) b:%!t(float64=1)]");
}
