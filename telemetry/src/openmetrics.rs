//! The Prometheus text exposition format and OpenMetrics text, as far as
//! route latency needs: the `histogram` and `summary` families whose series
//! name a route (a `route="a->b"` label, or `from` and `to`) and whose unit
//! is a time (`_seconds`, `_milliseconds` or `_microseconds` names, or a
//! `# UNIT` line). Every other family is skipped, so a whole exporter's page
//! can be read. Pure: text in, series out.

use std::collections::BTreeMap;

use crate::RouteKey;

/// A line that is not exposition text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("line {line}, column {column}: {message}")]
#[diagnostic(
    code(rtt::telemetry::openmetrics),
    help(
        "expected Prometheus text exposition: `# TYPE name histogram`, then `name_bucket{{route=\"a->b\",le=\"0.001\"}} 17`"
    )
)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What was wrong, and what would be valid.
    pub message: String,
}

/// One route series of one family, cumulative since its source started.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Identity across scrapes: family and every label but `le`/`quantile`.
    pub key: String,
    /// The route it measures.
    pub route: RouteKey,
    /// Its values.
    pub shape: Shape,
}

/// What a series holds, in µs.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Cumulative bucket counts by upper bound (the last is `+Inf`), sorted.
    Histogram {
        /// `(le_us, cumulative count)`.
        buckets: Vec<(f64, f64)>,
    },
    /// Quantile values and the total count.
    Summary {
        /// `(quantile, value_us)`, sorted by quantile.
        quantiles: Vec<(f64, f64)>,
        /// `_count`.
        count: f64,
    },
}

/// A summary being gathered: its route, quantiles and count.
type PendingSummary = (RouteKey, Vec<(f64, f64)>, f64);

struct Sample<'a> {
    name: &'a str,
    labels: Vec<(&'a str, String)>,
    value: f64,
    line: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Histogram,
    Summary,
}

struct Family {
    kind: Kind,
    unit: Option<f64>,
    line: usize,
}

/// Parses a page; returns its route series in page order of first sample.
pub fn parse(text: &str) -> Result<Vec<Series>, ParseError> {
    let mut families: BTreeMap<&str, Family> = BTreeMap::new();
    let mut samples = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim_end_matches('\r');
        if trimmed.trim().is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            let words: Vec<&str> = comment.split_whitespace().collect();
            match words.as_slice() {
                ["TYPE", name, kind, ..] => {
                    let kind = match *kind {
                        "histogram" => Kind::Histogram,
                        "summary" => Kind::Summary,
                        _ => continue,
                    };
                    let unit = unit_of_name(name);
                    families.insert(name, Family { kind, unit, line });
                }
                ["UNIT", name, unit, ..] => {
                    if let Some(family) = families.get_mut(name) {
                        family.unit = family.unit.or_else(|| unit_factor(unit));
                    }
                }
                ["EOF"] => break,
                _ => {}
            }
            continue;
        }
        samples.push(parse_sample(trimmed, line)?);
    }

    let mut order: Vec<String> = Vec::new();
    let mut histograms: BTreeMap<String, (RouteKey, Vec<(f64, f64)>)> = BTreeMap::new();
    let mut summaries: BTreeMap<String, PendingSummary> = BTreeMap::new();
    for sample in samples {
        let Some((family_name, family, suffix)) = family_of(&families, sample.name) else { continue };
        let Some(route) = route_of(&sample.labels) else { continue };
        let Some(factor) = family.unit else {
            return Err(ParseError {
                line: family.line,
                column: 1,
                message: format!(
                    "family `{family_name}` measures route {route} but has no time unit: name it `…_seconds`, \
                     `…_milliseconds` or `…_microseconds`, or add `# UNIT {family_name} seconds`"
                ),
            });
        };
        let key = series_key(family_name, &sample.labels);
        if !histograms.contains_key(&key) && !summaries.contains_key(&key) {
            order.push(key.clone());
        }
        match (family.kind, suffix) {
            (Kind::Histogram, "_bucket") => {
                let le = label(&sample.labels, "le").ok_or_else(|| ParseError {
                    line: sample.line,
                    column: 1,
                    message: format!("`{}` has no `le` label: a bucket needs its upper bound", sample.name),
                })?;
                let bound = parse_value(le).ok_or_else(|| ParseError {
                    line: sample.line,
                    column: 1,
                    message: format!("`le=\"{le}\"` is not a number (`+Inf` or a float)"),
                })?;
                histograms.entry(key).or_insert_with(|| (route, Vec::new())).1.push((bound * factor, sample.value));
            }
            (Kind::Summary, "") => {
                let Some(q) = label(&sample.labels, "quantile").and_then(parse_value) else { continue };
                summaries.entry(key).or_insert_with(|| (route, Vec::new(), 0.0)).1.push((q, sample.value * factor));
            }
            (Kind::Summary, "_count") => {
                summaries.entry(key).or_insert_with(|| (route, Vec::new(), 0.0)).2 = sample.value;
            }
            _ => {}
        }
    }

    let mut series = Vec::new();
    for key in order {
        if let Some((route, mut buckets)) = histograms.remove(&key) {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
                return Err(ParseError {
                    line: 1,
                    column: 1,
                    message: format!("histogram series {key} has no `le=\"+Inf\"` bucket"),
                });
            }
            series.push(Series { key, route, shape: Shape::Histogram { buckets } });
        } else if let Some((route, mut quantiles, count)) = summaries.remove(&key) {
            quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
            quantiles.retain(|(q, v)| (0.0..=1.0).contains(q) && v.is_finite());
            series.push(Series { key, route, shape: Shape::Summary { quantiles, count } });
        }
    }
    Ok(series)
}

fn family_of<'f, 'n>(
    families: &'f BTreeMap<&'n str, Family>,
    name: &'n str,
) -> Option<(&'n str, &'f Family, &'static str)> {
    for suffix in ["_bucket", "_count", "_sum", "_created", ""] {
        if let Some(base) = name.strip_suffix(suffix)
            && let Some((family_name, family)) = families.get_key_value(base)
        {
            return Some((family_name, family, suffix));
        }
    }
    None
}

fn unit_of_name(name: &str) -> Option<f64> {
    ["seconds", "milliseconds", "microseconds"]
        .into_iter()
        .find(|unit| name.ends_with(&format!("_{unit}")))
        .and_then(unit_factor)
}

fn unit_factor(unit: &str) -> Option<f64> {
    match unit {
        "seconds" => Some(1e6),
        "milliseconds" => Some(1e3),
        "microseconds" => Some(1.0),
        _ => None,
    }
}

fn label<'a>(labels: &'a [(&str, String)], name: &str) -> Option<&'a str> {
    labels.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
}

fn route_of(labels: &[(&str, String)]) -> Option<RouteKey> {
    if let Some(route) = label(labels, "route") {
        return route.parse().ok();
    }
    Some(RouteKey { from: label(labels, "from")?.to_owned(), to: label(labels, "to")?.to_owned() })
}

fn series_key(family: &str, labels: &[(&str, String)]) -> String {
    let mut rest: Vec<String> = labels
        .iter()
        .filter(|(n, _)| *n != "le" && *n != "quantile")
        .map(|(n, v)| format!("{n}={}", serde_json::Value::String(v.clone())))
        .collect();
    rest.sort();
    format!("{family}{{{}}}", rest.join(","))
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => text.parse::<f64>().ok().filter(|v| !v.is_nan()),
    }
}

fn parse_sample(text: &str, line: usize) -> Result<Sample<'_>, ParseError> {
    let error = |at: usize, message: String| ParseError { line, column: at + 1, message };
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_' || bytes[at] == b':') {
        at += 1;
    }
    if at == 0 || bytes[0].is_ascii_digit() {
        return Err(error(0, "expected a metric name (letters, digits, `_`, `:`), a comment or a blank line".into()));
    }
    let name = &text[..at];
    let mut labels = Vec::new();
    if bytes.get(at) == Some(&b'{') {
        at += 1;
        loop {
            while bytes.get(at) == Some(&b' ') {
                at += 1;
            }
            if bytes.get(at) == Some(&b'}') {
                at += 1;
                break;
            }
            let start = at;
            while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
                at += 1;
            }
            if start == at {
                return Err(error(at, "expected a label name or `}`".into()));
            }
            let label_name = &text[start..at];
            if bytes.get(at) != Some(&b'=') || bytes.get(at + 1) != Some(&b'"') {
                return Err(error(at, format!("expected `=\"` after label `{label_name}`")));
            }
            at += 2;
            let mut value = String::new();
            loop {
                match bytes.get(at) {
                    None => return Err(error(at, "unterminated label value: expected `\"`".into())),
                    Some(b'"') => {
                        at += 1;
                        break;
                    }
                    Some(b'\\') => {
                        match bytes.get(at + 1) {
                            Some(b'n') => value.push('\n'),
                            Some(b'\\') => value.push('\\'),
                            Some(b'"') => value.push('"'),
                            _ => return Err(error(at, "a label value escapes only `\\\\`, `\\\"` and `\\n`".into())),
                        }
                        at += 2;
                    }
                    Some(_) => {
                        // Label values are UTF-8; copy one whole character.
                        let ch = text[at..].chars().next().unwrap_or('\u{fffd}');
                        value.push(ch);
                        at += ch.len_utf8();
                    }
                }
            }
            labels.push((label_name, value));
            match bytes.get(at) {
                Some(b',') => at += 1,
                Some(b'}') => {
                    at += 1;
                    break;
                }
                _ => return Err(error(at, "expected `,` or `}` after a label".into())),
            }
        }
    }
    let rest = &text[at..];
    if !rest.starts_with([' ', '\t']) {
        return Err(error(at, "expected a space, then the sample's value".into()));
    }
    let value_text = rest.split_whitespace().next().unwrap_or("");
    let value = parse_value(value_text)
        .ok_or_else(|| error(at + 1, format!("`{value_text}` is not a sample value (a float, `+Inf` or `-Inf`)")))?;
    Ok(Sample { name, labels, value, line })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"# HELP rpc_latency_seconds Route latency.
# TYPE rpc_latency_seconds histogram
rpc_latency_seconds_bucket{from="api",to="db",le="0.0005"} 10
rpc_latency_seconds_bucket{from="api",to="db",le="0.001"} 90
rpc_latency_seconds_bucket{from="api",to="db",le="+Inf"} 100
rpc_latency_seconds_sum{from="api",to="db"} 0.07
rpc_latency_seconds_count{from="api",to="db"} 100
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
# TYPE edge_ms summary
# UNIT edge_ms milliseconds
edge_ms{route="web->api",quantile="0.5"} 1.5
edge_ms{route="web->api",quantile="0.99"} 4
edge_ms_count{route="web->api"} 2000
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0.5"} 0.0001
# EOF
"#;

    #[test]
    fn reads_route_histograms_and_summaries_and_skips_the_rest() {
        let series = parse(PAGE).expect("parses");
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].route.to_string(), "api->db");
        assert_eq!(series[0].key, r#"rpc_latency_seconds{from="api",to="db"}"#);
        assert_eq!(
            series[0].shape,
            Shape::Histogram { buckets: vec![(500.0, 10.0), (1000.0, 90.0), (f64::INFINITY, 100.0)] }
        );
        assert_eq!(series[1].route.to_string(), "web->api");
        assert_eq!(series[1].shape, Shape::Summary { quantiles: vec![(0.5, 1500.0), (0.99, 4000.0)], count: 2000.0 });
    }

    #[test]
    fn errors_say_where_and_what_would_be_valid() {
        let bad = "# TYPE x_seconds histogram\nx_seconds_bucket{from=\"a\",to=\"b\",le=\"1\"} twelve\n";
        let error = parse(bad).expect_err("bad value");
        assert_eq!((error.line, error.column), (2, 42));
        assert!(error.message.contains("not a sample value"), "{error}");

        let unterminated = "x{a=\"b} 1\n";
        assert!(parse(unterminated).expect_err("unterminated").message.contains("unterminated"));

        let unitless = "# TYPE lat histogram\nlat_bucket{route=\"a->b\",le=\"+Inf\"} 1\n";
        let error = parse(unitless).expect_err("no unit");
        assert_eq!(error.line, 1);
        assert!(error.message.contains("_seconds"), "{error}");

        let no_inf = "# TYPE l_seconds histogram\nl_seconds_bucket{route=\"a->b\",le=\"1\"} 1\n";
        assert!(parse(no_inf).expect_err("no +Inf").message.contains("+Inf"));
    }

    #[test]
    fn escapes_and_timestamps_are_read() {
        let page = "# TYPE l_seconds histogram\nl_seconds_bucket{route=\"a->b\",note=\"q\\\"\\n\",le=\"+Inf\"} 3 1700000000000\n";
        let series = parse(page).expect("parses");
        assert_eq!(series[0].shape, Shape::Histogram { buckets: vec![(f64::INFINITY, 3.0)] });
        assert!(series[0].key.contains(r#"note="q\"\n""#), "{}", series[0].key);
    }
}
