//! The one-pass canonical check agrees with the definition: bytes are
//! canonical exactly when they equal the JCS form of what they parse to.

use proptest::prelude::*;
use rtt_canonical::{check_canonical, to_canonical_vec};
use serde_json::Value;

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(Value::from),
        (-1000i32..1000, -30i32..30).prop_map(|(m, e)| Value::from(f64::from(m) * 10f64.powi(e))),
        "[\\u{0}-\\u{7f}\\u{e000}\\u{1f600}é]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-c\\u{e000}\\u{1f600}\\u{1}]{0,3}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// The reference definition, through the canonicaliser.
fn is_canonical_by_definition(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|value| to_canonical_vec(&value).ok())
        .is_some_and(|canonical| canonical == bytes)
}

proptest! {
    #[test]
    fn the_canonical_form_of_any_value_passes(value in json()) {
        let bytes = to_canonical_vec(&value).unwrap();
        prop_assert_eq!(check_canonical(&bytes), Ok(()));
    }

    #[test]
    fn other_spellings_pass_exactly_when_the_definition_says(value in json(), pretty in any::<bool>()) {
        // serde_json's own writer: its key order, number and escape forms.
        let bytes = if pretty { serde_json::to_vec_pretty(&value) } else { serde_json::to_vec(&value) }.unwrap();
        prop_assert_eq!(check_canonical(&bytes).is_ok(), is_canonical_by_definition(&bytes),
            "{}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn a_repeated_key_never_passes(value in json(), key in "[a-c]{0,2}") {
        let bytes = to_canonical_vec(&value).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let doubled = format!("{{\"{key}\":{text},\"{key}\":{text}}}");
        prop_assert!(check_canonical(doubled.as_bytes()).is_err());
    }
}
