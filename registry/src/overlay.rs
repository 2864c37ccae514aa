//! Overlays (SPEC §7): per-agent-selector RFC 7396 merges and RFC 6902
//! patches, applied base → provider `*` → provider agent → env `*` → env agent.
//! Pure: files are read by the caller.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rtt_canonical::Sha256;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{RegistryError, Result};
use crate::object::{canonical_bytes, canonical_from_text, check_agent_id};

/// The selector that applies to every agent.
pub const ALL: &str = "*";

/// One overlay file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    /// Selector (`*` or an agent id) → what to do.
    pub agents: BTreeMap<String, OverlayEntry>,
}

/// What an overlay does to the agents a selector picks: the merge first, then the patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverlayEntry {
    /// RFC 7396 merge patch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<Value>,
    /// RFC 6902 operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<json_patch::Patch>,
}

/// An overlay file as loaded: its path (for errors) and contents.
#[derive(Debug, Clone)]
pub struct OverlayFile {
    /// Where it came from.
    pub path: PathBuf,
    /// What it says.
    pub overlay: Overlay,
}

impl OverlayFile {
    /// Parses overlay text; every error names the file, line and column or the selector.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let name = path.display().to_string();
        let (value, _) = canonical_from_text(&name, text)?;
        refuse_null_merges(path, &value)?;
        let overlay: Overlay = serde_json::from_value(value).map_err(|e| RegistryError::Invalid {
            path: name.clone(),
            line: 1,
            column: 1,
            message: format!(
                "{e}; expected {{\"agents\": {{\"*\" | \"<agent id>\": {{\"merge\": {{...}}, \"patch\": [...]}}}}}}"
            ),
        })?;
        for (selector, entry) in &overlay.agents {
            let invalid =
                |message: String| RegistryError::Overlay { file: path.to_owned(), selector: selector.clone(), message };
            if selector != ALL {
                check_agent_id(selector).map_err(|e| invalid(format!("{e}, or \"*\" for every agent")))?;
            }
            if entry.merge.is_none() && entry.patch.is_none() {
                return Err(invalid("neither `merge` nor `patch`: say what the overlay changes".into()));
            }
        }
        Ok(Self { path: path.to_owned(), overlay })
    }

    /// The part of the overlay that applies to `id` (its `*` and `id`
    /// entries), as an overlay document of its own. Its hash is the
    /// overlay's contribution to a view's cache key.
    pub fn applicable(&self, id: &str) -> Overlay {
        applicable(Some(&self.overlay), id)
    }
}

/// `"merge": null` is a valid RFC 7396 patch that replaces the whole
/// manifest with `null`; no view can be that, and an absent `merge` reads
/// the same to serde, so it is refused by name before the typed parse.
fn refuse_null_merges(path: &Path, value: &Value) -> Result<()> {
    let Some(agents) = value.get("agents").and_then(Value::as_object) else { return Ok(()) };
    for (selector, entry) in agents {
        if entry.get("merge").is_some_and(Value::is_null) {
            return Err(RegistryError::Overlay {
                file: path.to_owned(),
                selector: selector.clone(),
                message: "`merge: null` would replace the whole manifest with null (RFC 7396); to remove fields, \
                          merge an object that sets them to null, e.g. {\"merge\": {\"field\": null}}"
                    .into(),
            });
        }
    }
    Ok(())
}

/// The part of an overlay (or of none) that applies to `id`.
pub fn applicable(overlay: Option<&Overlay>, id: &str) -> Overlay {
    let mut agents = BTreeMap::new();
    if let Some(overlay) = overlay {
        for selector in [ALL, id] {
            if let Some(entry) = overlay.agents.get(selector) {
                agents.insert(selector.to_owned(), entry.clone());
            }
        }
    }
    Overlay { agents }
}

impl Overlay {
    /// Canonical bytes: how the applicable part is stored in the CAS.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_value(self).ok().and_then(|v| canonical_bytes(&v).ok()).unwrap_or_default()
    }

    /// sha256 of the canonical bytes.
    pub fn hash(&self) -> Sha256 {
        Sha256::of(&self.to_bytes())
    }

    /// This overlay as its canonical bytes read back: numbers in one
    /// representation (`1.0` and `1` both become the integer 1), so that
    /// overlays with the same hash (the cache key) behave the same. A
    /// patch's `test` compares values structurally, and serde_json's `1.0`
    /// is not its `1`: without this a view could pass or fail depending on
    /// which spelling filled the cache first.
    fn normalized(&self) -> Overlay {
        serde_json::from_slice(&self.to_bytes()).unwrap_or_else(|_| self.clone())
    }

    /// Applies the `*` entry, then the `id` entry (merge, then patch, each),
    /// to a normalized document (one read from canonical bytes), as
    /// [`apply_layers`] does. `file` names the overlay in errors.
    fn apply_normalized(&self, id: &str, doc: &mut Value, file: &Path) -> Result<()> {
        for selector in [ALL, id] {
            let Some(entry) = self.agents.get(selector) else { continue };
            if let Some(merge) = &entry.merge {
                json_patch::merge(doc, merge);
            }
            if let Some(patch) = &entry.patch {
                json_patch::patch(doc, patch).map_err(|e| {
                    let op = patch.0.get(e.operation).map(|op| op.to_string()).unwrap_or_default();
                    RegistryError::Overlay {
                        file: file.to_owned(),
                        selector: selector.to_owned(),
                        message: format!(
                            "patch operation {} failed ({}) for {id} at {}: {op}",
                            e.operation, e.kind, e.path
                        ),
                    }
                })?;
            }
        }
        Ok(())
    }
}

/// The view of one agent: base, then each layer's applicable overlay, in
/// order. Returns the canonical bytes of the result.
pub fn apply_layers(id: &str, base: &[u8], layers: &[(&Overlay, &Path)]) -> Result<Vec<u8>> {
    let mut doc: Value = serde_json::from_slice(base)
        .map_err(|e| RegistryError::Unavailable(format!("manifest of {id} is not JSON: {e}")))?;
    // The base is canonical bytes, so `doc` starts normalized, and
    // normalized overlays keep it so.
    for (overlay, file) in layers {
        overlay.normalized().apply_normalized(id, &mut doc, file)?;
    }
    canonical_bytes(&doc).map_err(RegistryError::Unavailable)
}

/// A view's cache key: `sha256(base ‖ provider patch ‖ env patch)` over the raw digests.
pub fn cache_key(base: &Sha256, provider: &Sha256, env: &Sha256) -> Sha256 {
    let mut bytes = [0u8; 96];
    bytes[..32].copy_from_slice(&base.0);
    bytes[32..64].copy_from_slice(&provider.0);
    bytes[64..].copy_from_slice(&env.0);
    Sha256::of(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn overlay(text: &str) -> OverlayFile {
        OverlayFile::parse(Path::new("o.json"), text).expect("valid overlay")
    }

    #[test]
    fn order_is_star_then_agent_provider_then_env() {
        let provider = overlay(r#"{"agents":{"*":{"merge":{"tier":"p*","a":1}},"x@1":{"merge":{"tier":"px"}}}}"#);
        let env =
            overlay(r#"{"agents":{"*":{"merge":{"tier":"e*"}},"x@1":{"patch":[{"op":"add","path":"/b","value":2}]}}}"#);
        let p = provider.applicable("x@1");
        let e = env.applicable("x@1");
        let out = apply_layers("x@1", br#"{"tier":"base","c":3}"#, &[(&p, Path::new("p")), (&e, Path::new("e"))])
            .expect("applies");
        assert_eq!(out, br#"{"a":1,"b":2,"c":3,"tier":"e*"}"#);
        // Another agent sees only the `*` entries.
        assert_eq!(provider.applicable("y@1").agents.len(), 1);
    }

    #[test]
    fn failing_patch_names_file_selector_and_operation() {
        let env = overlay(r#"{"agents":{"x@1":{"patch":[{"op":"test","path":"/tier","value":"gold"}]}}}"#);
        let e = env.applicable("x@1");
        let err = apply_layers("x@1", br#"{"tier":"base"}"#, &[(&e, Path::new(".rtt/overlays/env/prod.json"))])
            .expect_err("test op fails");
        let text = err.to_string();
        assert!(text.contains("prod.json") && text.contains("x@1") && text.contains("operation 0"), "{text}");
    }

    #[test]
    fn a_test_compares_numbers_by_value_whatever_their_spelling() {
        let base = br#"{"n":1,"x":0.5}"#;
        for (spelling, passes) in [("1", true), ("1.0", true), ("1e0", true), ("10e-1", true), ("1.5", false)] {
            let file = overlay(&format!(
                r#"{{"agents":{{"x@1":{{"patch":[{{"op":"test","path":"/n","value":{spelling}}},{{"op":"test","path":"/x","value":5e-1}}]}}}}}}"#
            ));
            let part = file.applicable("x@1");
            assert_eq!(apply_layers("x@1", base, &[(&part, Path::new("e"))]).is_ok(), passes, "{spelling}");
        }
    }

    #[test]
    fn overlays_with_one_cache_key_behave_the_same_whichever_is_read_first() {
        // `1.0` and `1` have one canonical form, hence one hash and one
        // cache key: each must succeed exactly when the other does, also
        // as typed values built without the parser (from the CAS).
        let spelled = |n: Value| Overlay {
            agents: BTreeMap::from([(
                "x@1".to_owned(),
                OverlayEntry {
                    merge: Some(serde_json::json!({"m": n.clone()})),
                    patch: Some(
                        serde_json::from_value(serde_json::json!([{"op": "test", "path": "/n", "value": n}])).unwrap(),
                    ),
                },
            )]),
        };
        let (float, int) = (spelled(serde_json::json!(1.0)), spelled(serde_json::json!(1)));
        assert_eq!(float.hash(), int.hash());
        let base = br#"{"n":1}"#;
        let a = apply_layers("x@1", base, &[(&float, Path::new("e"))]).expect("1.0 tests equal to 1");
        let b = apply_layers("x@1", base, &[(&int, Path::new("e"))]).expect("1 tests equal to 1");
        assert_eq!(a, b);
    }

    #[test]
    fn a_null_merge_is_refused_and_says_what_to_write() {
        let error = OverlayFile::parse(Path::new("o.json"), r#"{"agents":{"x@1":{"merge":null}}}"#).expect_err("null");
        let text = error.to_string();
        assert!(text.contains("x@1") && text.contains("merge: null"), "{text}");
        assert!(format!("{error:?}").contains("sets them to null"), "{error:?}");
    }

    #[test]
    fn hostile_or_empty_selectors_are_refused() {
        for text in [
            r#"{"agents":{"../x@1":{"merge":{}}}}"#,
            r#"{"agents":{"x@1":{}}}"#,
            r#"{"agents":{"x@1":{"merge":{},"extra":1}}}"#,
            r#"{"agents":{"x@1":{"merge":{}}}, "more": 1}"#,
        ] {
            assert!(OverlayFile::parse(Path::new("o.json"), text).is_err(), "{text}");
        }
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![Just(Value::Null), any::<bool>().prop_map(Value::from), (0i64..100).prop_map(Value::from)]
    }

    fn object() -> impl Strategy<Value = Value> {
        proptest::collection::btree_map("[abc]", leaf(), 0..4).prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    proptest! {
        #[test]
        fn env_beats_provider_beats_base_and_result_is_deterministic(
            base in object(), provider in object(), env in object(),
        ) {
            let p = Overlay { agents: BTreeMap::from([("*".to_owned(), OverlayEntry { merge: Some(provider.clone()), patch: None })]) };
            let e = Overlay { agents: BTreeMap::from([("x@1".to_owned(), OverlayEntry { merge: Some(env.clone()), patch: None })]) };
            let base_bytes = canonical_bytes(&base).expect("canonical");
            let layers = [(&p, Path::new("p")), (&e, Path::new("e"))];
            let once = apply_layers("x@1", &base_bytes, &layers).expect("applies");
            prop_assert_eq!(&once, &apply_layers("x@1", &base_bytes, &layers).expect("applies"));
            let result: Value = serde_json::from_slice(&once).expect("json");
            for key in ["a", "b", "c"] {
                let expected = match (env.get(key), provider.get(key), base.get(key)) {
                    (Some(Value::Null), _, _) => None,
                    (Some(v), _, _) => Some(v.clone()),
                    (None, Some(Value::Null), _) => None,
                    (None, Some(v), _) => Some(v.clone()),
                    (None, None, b) => b.cloned(),
                };
                prop_assert_eq!(result.get(key).cloned(), expected, "key {}", key);
            }
        }
    }
}
