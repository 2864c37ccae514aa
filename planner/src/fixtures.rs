//! Small configs for unit tests, read through the real schema so that
//! every test sees the model `rtt plan` would.

use rtt_schema::model::Model;

/// A config of `n_hosts` one-node hosts of 16 cores, two per zone and rack
/// (h0 and h1 in z0 and r0, h2 and h3 in z1 and r1, …), with `agents` and
/// `routes` as YAML list items.
pub(crate) fn two_per_zone(n_hosts: usize, agents: &str, routes: &str) -> Model {
    let hosts = (0..n_hosts)
        .map(|h| {
            format!("    - {{name: h{h}, zone: z{}, rack: r{}, numa: [{{cores: 16, memory_mib: 64}}]}}\n", h / 2, h / 2)
        })
        .collect::<String>();
    let yaml = format!(
        "version: 1\ntopology:\n  latency_us: {{numa: 1, host: 2, rack: 3, zone: 4, region: 5}}\n  hosts:\n{hosts}agents:\n{agents}routes:\n{routes}"
    );
    let source = rtt_schema::source::SourceFile::new("t.yaml", yaml);
    rtt_schema::check_text(source, rtt_schema::Format::Yaml).unwrap().model
}

/// The model of a YAML config.
pub(crate) fn from_yaml(yaml: &str) -> Model {
    let source = rtt_schema::source::SourceFile::new("t.yaml", yaml.to_owned());
    rtt_schema::check_text(source, rtt_schema::Format::Yaml).expect("valid").model
}
