//! `index.json`: `{"agents": {"<id>": "sha256:<hex>"}}`, canonical JSON.

use std::collections::BTreeMap;

use rtt_canonical::{Sha256, to_canonical_vec};

use crate::object::check_agent_id;

/// Which manifest each agent id names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    /// Agent id → manifest hash.
    pub agents: BTreeMap<String, Sha256>,
}

impl Index {
    /// Parses index bytes, refusing anything but the exact shape with valid ids and hashes.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let object =
            value.as_object().filter(|o| o.len() == 1).ok_or("expected {\"agents\": {...}} and nothing else")?;
        let agents = object.get("agents").and_then(|a| a.as_object()).ok_or("expected an object under \"agents\"")?;
        let mut index = Index::default();
        for (id, hash) in agents {
            check_agent_id(id)?;
            let hash = hash.as_str().ok_or_else(|| format!("agents.{id}: expected a \"sha256:<hex>\" string"))?;
            let hash: Sha256 = hash.parse().map_err(|e| format!("agents.{id}: {e}"))?;
            index.agents.insert(id.clone(), hash);
        }
        Ok(index)
    }

    /// The canonical bytes (what `inputs.registry` hashes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let agents: BTreeMap<&str, String> = self.agents.iter().map(|(id, h)| (id.as_str(), h.to_string())).collect();
        // Strings and a string map always have a canonical form.
        to_canonical_vec(&serde_json::json!({ "agents": agents })).unwrap_or_default()
    }

    /// `inputs.registry`: sha256 of the canonical index.
    pub fn hash(&self) -> Sha256 {
        Sha256::of(&self.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let mut index = Index::default();
        index.agents.insert("b@1".into(), Sha256::of(b"b"));
        index.agents.insert("a@1".into(), Sha256::of(b"a"));
        let bytes = index.to_bytes();
        assert!(bytes.starts_with(br#"{"agents":{"a@1":"sha256:"#));
        assert_eq!(Index::parse(&bytes).expect("parse"), index);
        for bad in [
            r#"{"agents":{"../x@1":"sha256:00"}}"#,
            r#"{"agents":{"a@1":"sha1:00"}}"#,
            r#"{"agents":{},"extra":1}"#,
            r#"[]"#,
        ] {
            assert!(Index::parse(bad.as_bytes()).is_err(), "{bad} accepted");
        }
    }
}
