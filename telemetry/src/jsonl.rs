//! JSON lines of route latency samples, one object per line:
//! `{"from": "api", "to": "db", "latency_us": 812}`, or `"route": "api->db"`
//! for `from`/`to`, and an optional `"count"` (default 1) for that many
//! samples of the same value. Pure.

use serde::Deserialize;

use crate::RouteKey;

/// A line that is not a sample.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("line {line}, column {column}: {message}")]
#[diagnostic(
    code(rtt::telemetry::jsonl),
    help(r#"each line is {{"from": "api", "to": "db", "latency_us": 812}} (or "route": "api->db"), with an optional "count""#)
)]
pub struct JsonlError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What was wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    route: Option<String>,
    latency_us: f64,
    #[serde(default)]
    count: Option<u64>,
}

/// One line's samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// The route.
    pub route: RouteKey,
    /// Latency, µs.
    pub latency_us: u64,
    /// How many samples of it.
    pub count: u64,
}

/// Parses complete lines; `first_line` numbers the first one (for a file read
/// from an offset).
pub fn parse(text: &str, first_line: usize) -> Result<Vec<Samples>, JsonlError> {
    let mut samples = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = first_line + index;
        if raw.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(raw).map_err(|e| JsonlError {
            line,
            column: e.column().max(1),
            message: e.to_string(),
        })?;
        let at = |message: String| JsonlError { line, column: 1, message };
        let route = match (parsed.route, parsed.from, parsed.to) {
            (Some(route), None, None) => route.parse().map_err(at)?,
            (None, Some(from), Some(to)) => RouteKey { from, to },
            _ => return Err(at("give either `route` (\"from->to\") or both `from` and `to`".into())),
        };
        if !(parsed.latency_us.is_finite() && parsed.latency_us >= 0.0) {
            return Err(at(format!("`latency_us` must be a non-negative number of µs, not {}", parsed.latency_us)));
        }
        samples.push(Samples { route, latency_us: parsed.latency_us.ceil() as u64, count: parsed.count.unwrap_or(1) });
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_spellings_of_a_route() {
        let text = "{\"from\":\"api\",\"to\":\"db\",\"latency_us\":812.2}\n\n{\"route\":\"web->api\",\"latency_us\":90,\"count\":4}\n";
        let samples = parse(text, 1).expect("parses");
        assert_eq!(samples[0], Samples { route: "api->db".parse().expect("route"), latency_us: 813, count: 1 });
        assert_eq!(samples[1].count, 4);
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let error = parse("{\"from\":\"a\",\"to\":\"b\",\"latency_us\":1}\n{\"from\":\"a\",\"latency\":1}\n", 10)
            .expect_err("unknown field");
        assert_eq!(error.line, 11);
        assert!(error.column > 1, "{error}");
        let error = parse("{\"from\":\"a\",\"latency_us\":1}", 1).expect_err("no to");
        assert!(error.message.contains("both `from` and `to`"), "{error}");
        assert!(parse("{\"route\":\"a->b\",\"latency_us\":-1}", 1).is_err());
    }
}
