//! Reading telemetry sources (IO): an OpenMetrics page from a file or a
//! localhost URL, a JSON-lines file from where the last read stopped, and
//! [`ingest`], which turns them into observations of the plan in force.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use rtt_canonical::Sha256;

use crate::histogram::Latency;
use crate::observations::Observations;
use crate::store::{Store, StoreError};
use crate::{RouteKey, jsonl, openmetrics};

/// The largest page or batch of lines read at once.
pub const MAX_READ: u64 = 64 << 20;

/// Where samples come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An OpenMetrics / Prometheus text page: a file, or an `http://` URL on
    /// localhost.
    Metrics(String),
    /// A JSON-lines file of samples.
    Samples(PathBuf),
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::Metrics(location) => location.clone(),
            Source::Samples(path) => path.display().to_string(),
        }
    }
}

/// A source that could not be read or parsed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SourceError {
    /// Reading failed.
    #[error("failed to read telemetry from {source_name}: {reason}")]
    #[diagnostic(code(rtt::telemetry::source))]
    Read {
        /// The source.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// An OpenMetrics page that does not parse.
    #[error("{source_name}: {error}")]
    #[diagnostic(code(rtt::telemetry::openmetrics), help("{}", openmetrics_help()))]
    Metrics {
        /// The source.
        source_name: String,
        /// Where and what.
        error: openmetrics::ParseError,
    },
    /// A JSON line that does not parse.
    #[error("{source_name}: {error}")]
    #[diagnostic(code(rtt::telemetry::jsonl), help("{}", jsonl_help()))]
    Samples {
        /// The source.
        source_name: String,
        /// Where and what.
        error: jsonl::JsonlError,
    },
    /// The store.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] StoreError),
}

fn openmetrics_help() -> &'static str {
    "expected Prometheus text exposition: `# TYPE name_seconds histogram`, then `name_seconds_bucket{route=\"a->b\",le=\"0.001\"} 17`"
}

fn jsonl_help() -> &'static str {
    r#"each line is {"from": "api", "to": "db", "latency_us": 812} (or "route": "api->db"), with an optional "count""#
}

/// What one ingest took in.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestReport {
    /// Samples recorded per source.
    pub samples: BTreeMap<String, u64>,
    /// Samples of routes the plan does not have, skipped, by route.
    pub skipped: BTreeMap<String, u64>,
}

/// Reads every source, keeps what is new since its last read for the routes
/// of `plan`, and adds it to the store; returns what it added. The whole
/// ingest holds the store's lock, so two ingests never count the same
/// counters twice.
pub fn ingest(
    store: &Store,
    plan: &Sha256,
    routes: &BTreeSet<RouteKey>,
    sources: &[Source],
    from_zero: bool,
    now_ms: u64,
) -> Result<(IngestReport, Observations), SourceError> {
    let lock = store.lock()?;
    let mut cursors = store.cursors(&lock)?;
    let mut seen = Observations::default();
    let mut report = IngestReport::default();
    for source in sources {
        let source_name = source.name();
        let gained: Vec<(RouteKey, Latency)> = match source {
            Source::Metrics(location) => {
                let text = fetch(location)?;
                let series = openmetrics::parse(&text)
                    .map_err(|error| SourceError::Metrics { source_name: source_name.clone(), error })?;
                cursors.increments(&source_name, &series, from_zero)
            }
            Source::Samples(path) => {
                let read = |e: io::Error| SourceError::Read { source_name: source_name.clone(), reason: e.to_string() };
                let mut file = File::open(path).map_err(read)?;
                let len = file.metadata().map_err(read)?.len();
                let offset = cursors.file_offset(&source_name, len);
                file.seek(SeekFrom::Start(offset)).map_err(read)?;
                let mut bytes = Vec::new();
                file.take(MAX_READ).read_to_end(&mut bytes).map_err(read)?;
                // Only whole lines: a line being written is read next time.
                let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |at| at + 1);
                let text = std::str::from_utf8(&bytes[..complete])
                    .map_err(|e| SourceError::Read { source_name: source_name.clone(), reason: e.to_string() })?;
                let samples = jsonl::parse(text, 1).map_err(|error| SourceError::Samples {
                    // Lines count from where this read started.
                    source_name: if offset == 0 {
                        source_name.clone()
                    } else {
                        format!("{source_name} from byte {offset}")
                    },
                    error,
                })?;
                cursors.files.insert(source_name.clone(), offset + complete as u64);
                // Recorded in place, one histogram per route, not per line.
                for sample in samples {
                    if routes.contains(&sample.route) {
                        *report.samples.entry(source_name.clone()).or_default() += sample.count;
                        seen.record(&sample.route, sample.latency_us, sample.count, now_ms);
                    } else {
                        *report.skipped.entry(sample.route.to_string()).or_default() += sample.count;
                    }
                }
                Vec::new()
            }
        };
        for (route, latency) in gained {
            if routes.contains(&route) {
                *report.samples.entry(source_name.clone()).or_default() += latency.count();
                seen.add(&route, &latency, now_ms, now_ms);
            } else {
                *report.skipped.entry(route.to_string()).or_default() += latency.count();
            }
        }
        report.samples.entry(source_name).or_default();
    }
    store.add(&lock, plan, &seen)?;
    store.write_cursors(&lock, &cursors)?;
    Ok((report, seen))
}

/// The text of an OpenMetrics source: a file, or an `http://` URL whose
/// host is `localhost`, `127.0.0.1` or `[::1]` (rtt reads metrics where it
/// runs; it is not a scraper of remote machines).
pub fn fetch(location: &str) -> Result<String, SourceError> {
    let fail = |reason: String| SourceError::Read { source_name: location.to_owned(), reason };
    let Some(rest) = location.strip_prefix("http://") else {
        let mut text = String::new();
        File::open(location)
            .and_then(|f| f.take(MAX_READ).read_to_string(&mut text))
            .map_err(|e| fail(e.to_string()))?;
        return Ok(text);
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let host = authority.rsplit_once(':').map_or(authority, |(host, _)| host);
    if !matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
        return Err(fail(format!(
            "`{host}` is not localhost: telemetry URLs must be http://localhost…, 127.0.0.1 or [::1]"
        )));
    }
    let address = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let timeout = Duration::from_secs(5);
    let socket = address
        .to_socket_addrs()
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail(format!("`{address}` has no address")))?;
    let mut stream = TcpStream::connect_timeout(&socket, timeout).map_err(|e| fail(e.to_string()))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| fail(e.to_string()))?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| fail(e.to_string()))?;
    // HTTP/1.0: the server closes after the body and sends no chunks.
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: text/plain;version=0.0.4\r\nUser-Agent: rtt\r\n\r\n"
    )
    .map_err(|e| fail(e.to_string()))?;
    let mut response = Vec::new();
    stream.take(MAX_READ).read_to_end(&mut response).map_err(|e| fail(e.to_string()))?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| fail("no HTTP header end".into()))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(fail(format!("the server answered `{status}`")));
    }
    String::from_utf8(response[split + 4..].to_vec()).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::net::TcpListener;

    const PAGE: &str = "# TYPE l_seconds histogram\nl_seconds_bucket{route=\"a->b\",le=\"0.001\"} 7\nl_seconds_bucket{route=\"a->b\",le=\"+Inf\"} 8\n";

    #[test]
    fn fetches_a_localhost_page_and_refuses_other_hosts() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = io::BufReader::new(stream);
            let mut request = String::new();
            reader.read_line(&mut request).expect("request line");
            // Read the headers too: closing with unread bytes would reset.
            let mut header = String::new();
            while reader.read_line(&mut header).expect("header") > 2 {
                header.clear();
            }
            let mut stream = reader.into_inner();
            write!(stream, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n{PAGE}").expect("respond");
            request
        });
        let text = fetch(&format!("http://127.0.0.1:{port}/metrics")).expect("fetches");
        assert_eq!(text, PAGE);
        assert_eq!(server.join().expect("server"), "GET /metrics HTTP/1.0\r\n");
        let refused = fetch("http://example.com/metrics").expect_err("not localhost");
        assert!(refused.to_string().contains("not localhost"), "{refused}");
    }

    #[test]
    fn ingest_counts_increments_and_reads_lines_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(&rtt_durable::Layout::at(dir.path().join(".rtt")));
        let page = dir.path().join("page.prom");
        let lines = dir.path().join("samples.jsonl");
        std::fs::write(&page, PAGE).expect("page");
        std::fs::write(&lines, "{\"route\":\"a->b\",\"latency_us\":5}\n{\"route\":\"x->y\",\"latency_us\":5}\n{\"rou")
            .expect("lines");
        let plan = Sha256::of(b"plan");
        let routes: BTreeSet<RouteKey> = [RouteKey::new("a", "b")].into();
        let sources = [Source::Metrics(page.display().to_string()), Source::Samples(lines.clone())];
        let (first, _) = ingest(&store, &plan, &routes, &sources, false, 1).expect("ingest");
        assert_eq!(first.samples[&lines.display().to_string()], 1);
        assert_eq!(first.samples[&page.display().to_string()], 0, "a first page is the baseline");
        assert_eq!(first.skipped["x->y"], 1);
        std::fs::write(&page, PAGE.replace("} 7", "} 17").replace("} 8", "} 20")).expect("page grows");
        let mut file = std::fs::OpenOptions::new().append(true).open(&lines).expect("open");
        file.write_all(b"te\":\"a->b\",\"latency_us\":9}\n").expect("finish the line");
        let (second, added) = ingest(&store, &plan, &routes, &sources, false, 2).expect("ingest");
        assert_eq!(added.samples(), 13);
        assert_eq!(second.samples[&page.display().to_string()], 12);
        assert_eq!(second.samples[&lines.display().to_string()], 1);
        let seen = store.read(&plan).expect("read");
        assert_eq!(seen.summary(&RouteKey::new("a", "b")).expect("seen").count, 14);
    }
}
