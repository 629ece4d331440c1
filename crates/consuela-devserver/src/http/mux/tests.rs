use super::*;

#[test]
fn cleans_like_go() {
    assert_eq!(clean_path("/v1/kv/x//y"), "/v1/kv/x/y");
    assert_eq!(clean_path("/v1/kv/x/../y"), "/v1/kv/y");
    assert_eq!(clean_path("/v1/kv/a/"), "/v1/kv/a/");
    assert_eq!(clean_path("/v1/kv/./a"), "/v1/kv/a");
    assert_eq!(clean_path("/../a"), "/a");
    assert_eq!(clean_path("/"), "/");
}

#[test]
fn routes_like_servemux() {
    assert!(
        matches!(dispatch("/v1/kv/a/b", ""), Dispatch::Route(Route::Kv, _, rest) if rest == "a/b")
    );
    assert!(
        matches!(dispatch("/v1/kv", "recurse"), Dispatch::Redirect(l) if l == "/v1/kv/?recurse")
    );
    assert!(
        matches!(dispatch("/v1/session/info", ""), Dispatch::Redirect(l) if l == "/v1/session/info/")
    );
    assert!(matches!(dispatch("/", ""), Dispatch::Redirect(l) if l == "/ui/"));
    assert!(matches!(dispatch("/v1/nope", ""), Dispatch::NotFound));
    assert!(matches!(dispatch("/v1/txn/x", ""), Dispatch::NotFound));
    assert!(matches!(dispatch("/v1/kv/a//b", ""), Dispatch::Redirect(l) if l == "/v1/kv/a/b"));
    assert!(matches!(dispatch("/v1/kv/a b/../c", ""), Dispatch::Redirect(l) if l == "/v1/kv/c"));
    assert!(
        matches!(dispatch("/v1/kv/a b//c", ""), Dispatch::Redirect(l) if l == "/v1/kv/a%20b/c")
    );
    assert_eq!(allow_header(KV), "OPTIONS,GET,PUT,DELETE");
}

#[test]
fn decodes_paths() {
    assert_eq!(decode_path("/v1/kv/a%2Fb%20c+d").unwrap(), "/v1/kv/a/b c+d");
    assert!(decode_path("/v1/kv/%zz").is_err());
    assert!(decode_path("/v1/kv/%ff").is_err());
}
