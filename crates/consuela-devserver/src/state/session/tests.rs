use super::*;

#[test]
fn canonical_ids_follow_memdb_rules() {
    let id = "ABCDEF01-2345-6789-abcd-ef0123456789";
    assert_eq!(
        canonical_id_checked(id).unwrap().as_str(),
        "abcdef01-2345-6789-abcd-ef0123456789"
    );
    assert_eq!(
        canonical_id_checked("not-a-uuid").unwrap_err().0,
        "UUID must be 36 characters"
    );
    assert!(
        canonical_id_checked("gbcdef01-2345-6789-abcd-ef0123456789")
            .unwrap_err()
            .0
            .starts_with("Invalid UUID")
    );
}

#[test]
fn check_fixup_rules() {
    let spec = |checks: Option<&[&str]>, node: Option<&[&str]>| CreateSpec {
        checks: checks.map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
        node_checks: node.map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
        ..CreateSpec::default()
    };
    assert_eq!(spec(None, None).effective_checks(), ["serfHealth"]);
    assert!(spec(Some(&[]), None).effective_checks().is_empty());
    assert!(spec(None, Some(&[])).effective_checks().is_empty());
    assert_eq!(
        spec(Some(&["serfHealth", "service:x"]), None).effective_checks(),
        ["serfHealth", "service:x"]
    );
    assert_eq!(
        spec(Some(&["a"]), None).effective_checks(),
        ["a", "serfHealth"]
    );
    assert!(spec(Some(&["a"]), Some(&[])).effective_checks().is_empty());
}
