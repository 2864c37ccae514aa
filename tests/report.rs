//! `rtt report --html` (issue 17): one self-contained page with the fleet
//! map, routes planned against observed against their SLOs, and the churn
//! trade-off; rendered by headless Chromium (Debian's, installed by
//! scripts/setup), whose screenshot must show a page and whose console
//! must stay free of errors.

mod support;

use std::path::Path;
use std::process::Command;

fn rtt_ok(dir: &Path, args: &[&str]) -> std::process::Output {
    let output = support::rtt_in(dir, args);
    assert!(output.status.success(), "rtt {}: {}", args.join(" "), support::stderr(&output));
    output
}

/// The workspace: the quickstart, planned twice (the second from the first,
/// with one more batch replica), and observed latency for the second.
fn reported() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let config = std::fs::read_to_string(support::repo().join("examples/quickstart/rtt.yaml")).expect("config");
    std::fs::write(root.join("rtt.yaml"), &config).expect("config");
    rtt_ok(root, &["plan", "-o", "p1.json"]);
    let grown = config.replace("id: batch@1\n    replicas: 2", "id: batch@1\n    replicas: 3");
    assert_ne!(grown, config);
    std::fs::write(root.join("rtt.yaml"), grown).expect("config");
    rtt_ok(root, &["plan", "--previous", "p1.json", "-o", "p2.json"]);
    let lines = "{\"route\":\"gateway@1->search@1\",\"latency_us\":180,\"count\":95}\n\
                 {\"route\":\"gateway@1->search@1\",\"latency_us\":520,\"count\":5}\n\
                 {\"route\":\"search@1->cache@2\",\"latency_us\":30,\"count\":100}\n";
    std::fs::write(root.join("samples.jsonl"), lines).expect("samples");
    rtt_ok(root, &["telemetry", "ingest", "--plan", "p2.json", "--samples", "samples.jsonl"]);
    rtt_ok(root, &["report", "p2.json", "--config", "rtt.yaml", "--previous", "p1.json", "--html", "report.html"]);
    let html = std::fs::read_to_string(root.join("report.html")).expect("report written");
    (dir, html)
}

#[test]
fn the_page_holds_the_fleet_the_routes_and_the_trade_off() {
    let (_dir, html) = reported();
    for host in ["h01", "h02", "h03", "h04"] {
        assert!(html.contains(&format!("<div class=\"title\">{host}</div>")), "host {host} on the map");
    }
    assert!(html.contains("zone z1") && html.contains("rack r2"));
    assert!(html.contains("data-agent=\"gateway@1\""));
    // gateway→search: planned, observed (p99 in the 520 µs bucket) and its SLO (400 µs): breached.
    assert!(html.contains("<td>gateway@1-&gt;search@1</td>"), "{html}");
    assert!(
        html.contains("observed 523 µs over 100 samples") || html.contains("observed 520 µs over 100 samples"),
        "{html}"
    );
    assert!(html.contains("class=\"bad\""), "a breached SLO is marked");
    assert!(html.contains("churn trade-off: moves against mean route p99"), "the trade-off chart");
    assert!(!html.contains("src=") && !html.contains("href="), "self-contained: nothing fetched");
}

#[test]
fn chromium_renders_it_without_console_errors() {
    let (dir, _) = reported();
    let page = format!("file://{}", dir.path().join("report.html").display());
    let chromium = support::which("chromium").expect("chromium is installed by scripts/setup");
    let headless = |extra: &[&str]| {
        Command::new(&chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"])
            .args(extra)
            .arg(&page)
            .output()
            .expect("chromium runs")
    };
    let shot = dir.path().join("shot.png");
    let rendered = headless(&[&format!("--screenshot={}", shot.display()), "--window-size=1200,1400"]);
    assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
    let dom = headless(&["--dump-dom"]);
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(dom_text.contains("<body data-rendered=\"yes\">"), "the page's script ran to its end: {dom_text}");
    for output in [&rendered, &dom] {
        let log = String::from_utf8_lossy(&output.stderr);
        let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
        assert!(console.is_empty(), "console messages: {console:#?}");
    }
    // The screenshot shows a page: many colours, and much of it not background.
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).expect("screenshot")));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).expect("a frame");
    let channels = info.color_type.samples();
    let pixels = &pixels[..info.buffer_size()];
    let colours: std::collections::BTreeSet<&[u8]> = pixels.chunks(channels).collect();
    let background = &pixels[..channels];
    let drawn = pixels.chunks(channels).filter(|p| *p != background).count();
    assert!((info.width, info.height) == (1200, 1400), "{}x{}", info.width, info.height);
    assert!(colours.len() > 50, "{} colours", colours.len());
    assert!(drawn * 20 > pixels.len() / channels, "only {drawn} pixels drawn");
}
