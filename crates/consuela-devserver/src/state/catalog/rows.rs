//! Rows of the service and check tables: keyed by (node, id) as in Consul's
//! state store, so one node's rows are a contiguous range.

use std::collections::BTreeMap;

/// (node, id): the key of services and checks, as in Consul's state store.
pub(super) type RowKey = (String, String);

/// The rows of `node` in `map`, in id order.
pub(super) fn range_of<'a, V>(
    map: &'a BTreeMap<RowKey, V>,
    node: &'a str,
) -> impl Iterator<Item = (&'a RowKey, &'a V)> + 'a {
    map.range((node.to_owned(), String::new())..)
        .take_while(move |((n, _), _)| n == node)
}
