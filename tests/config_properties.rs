//! Property tests of config loading: round trips and robustness.

use proptest::prelude::*;
use rtt_instances::{Spec, generate};
use rtt_schema::source::SourceFile;
use rtt_schema::{ConfigError, Format, LoadedConfig, check_text};
use yaml_rust2::{Yaml, YamlEmitter};

fn spec() -> impl Strategy<Value = Spec> {
    (1usize..8, 0usize..12, 0usize..16, any::<u64>()).prop_map(|(n_hosts, n_agents, n_routes, seed)| Spec {
        n_hosts,
        n_agents,
        n_routes,
        utilization: 0.5,
        seed,
    })
}

fn to_yaml(value: &serde_json::Value) -> Yaml {
    match value {
        serde_json::Value::Null => Yaml::Null,
        serde_json::Value::Bool(b) => Yaml::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(format!("{:?}", n.as_f64().unwrap_or(0.0))),
        },
        serde_json::Value::String(s) => Yaml::String(s.clone()),
        serde_json::Value::Array(items) => Yaml::Array(items.iter().map(to_yaml).collect()),
        serde_json::Value::Object(map) => {
            Yaml::Hash(map.iter().map(|(k, v)| (Yaml::String(k.clone()), to_yaml(v))).collect())
        }
    }
}

fn yaml_text(value: &serde_json::Value) -> String {
    let mut out = String::new();
    YamlEmitter::new(&mut out).dump(&to_yaml(value)).expect("emit yaml");
    out
}

fn load(text: &str, format: Format) -> Result<LoadedConfig, ConfigError> {
    check_text(SourceFile::new("prop", text), format)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// YAML → model → JSON → model gives the same model and the same config hash.
    #[test]
    fn yaml_to_model_to_json_round_trips(spec in spec()) {
        let config = generate(spec);
        let yaml = yaml_text(&serde_json::to_value(&config).unwrap());
        let from_yaml = load(&yaml, Format::Yaml).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(&from_yaml.config, &config);
        let json = serde_json::to_string(&from_yaml.normalized_json().unwrap()).unwrap();
        let from_json = load(&json, Format::Json).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(&from_json.model, &from_yaml.model);
        prop_assert_eq!(from_json.config_hash().unwrap(), from_yaml.config_hash().unwrap());
    }

    /// Random edits of a valid config's text never panic, and every refusal
    /// points into the file.
    #[test]
    fn mutated_text_is_refused_cleanly_or_accepted(
        spec in spec(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::sample::select(&[
            "{", "}", "[", "]", ":", ",", "-", "\"", "'", "\n", " ", "0", "-1", "a", "@", "#", "&x", "*x", "!", "|", ">", "1e999", "\u{0}", "é",
        ][..])), 1..4),
        yaml in any::<bool>(),
    ) {
        let value = serde_json::to_value(generate(spec)).unwrap();
        let mut text = if yaml { yaml_text(&value) } else { serde_json::to_string_pretty(&value).unwrap() };
        for (index, op, piece) in edits {
            let mut at = index.index(text.len() + 1);
            while !text.is_char_boundary(at) { at -= 1; }
            match op {
                0 => text.insert_str(at, piece),
                1 => { let end = (at + piece.len()).min(text.len()); let end = (end..=text.len()).find(|e| text.is_char_boundary(*e)).unwrap(); text.replace_range(at..end, ""); }
                _ => { let end = (at + 1).min(text.len()); let end = (end..=text.len()).find(|e| text.is_char_boundary(*e)).unwrap(); text.replace_range(at..end, piece); }
            }
        }
        match load(&text, if yaml { Format::Yaml } else { Format::Json }) {
            Ok(loaded) => prop_assert!(rtt_schema::refine(&loaded.config).is_ok()),
            Err(error) => {
                prop_assert!(!error.issues().is_empty(), "an error without a place: {error:?}");
                for issue in error.issues() {
                    prop_assert!(issue.line >= 1 && issue.column >= 1);
                    prop_assert!(!issue.message.is_empty());
                }
            }
        }
    }

    /// Structural mutations (drop a key, change a value's type) are caught.
    #[test]
    fn mutated_values_are_refused_cleanly_or_accepted(spec in spec(), picks in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4), 1..4)) {
        let mut value = serde_json::to_value(generate(spec)).unwrap();
        for (pick, op) in picks {
            let mut paths = Vec::new();
            collect_paths(&value, String::new(), &mut paths);
            let path = pick.get(&paths).clone();
            if let Some(target) = value.pointer_mut(&path) {
                *target = match op {
                    0 => serde_json::json!("x"),
                    1 => serde_json::json!(-1),
                    2 => serde_json::json!(null),
                    _ => serde_json::json!({"unexpected": [1.5]}),
                };
            }
        }
        let text = serde_json::to_string(&value).unwrap();
        match load(&text, Format::Json) {
            Ok(_) => {}
            Err(error) => prop_assert!(!error.issues().is_empty()),
        }
    }
}

fn collect_paths(value: &serde_json::Value, prefix: String, out: &mut Vec<String>) {
    out.push(prefix.clone());
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                collect_paths(v, format!("{prefix}/{k}"), out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_paths(v, format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
}
