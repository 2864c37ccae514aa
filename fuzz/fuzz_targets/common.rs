//! What every target does with an error: render it as the CLI would, so the
//! span and label code is fuzzed too (a label outside its source must not
//! panic the renderer).

#![allow(dead_code)]

pub fn render(error: &dyn miette::Diagnostic) {
    let mut out = String::new();
    let _ = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, error);
    std::hint::black_box(out);
}

/// Splits the input at the first `sep` byte (missing: all of it, then empty).
pub fn split(data: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == sep) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// A config front end end to end: parse, validate, refine, hash; render
/// whatever error comes out.
pub fn check_config(data: &[u8], name: &str, format: rtt_schema::Format) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match rtt_schema::check_text(rtt_schema::source::SourceFile::new(name, text), format) {
        Ok(loaded) => {
            // A config that passed is canonical-hashable (every number finite).
            loaded.config_hash().expect("a checked config hashes");
        }
        Err(error) => render(&error),
    }
}
