//! Number formatting shared by the renderers, so every figure reads the same
//! way everywhere (and never shows floating-point noise).

/// A figure with up to `digits` decimals, trailing zeros trimmed ("151.5", "400").
pub fn figure(x: f64, digits: usize) -> String {
    let text = format!("{x:.digits$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
}

/// A signed change ("+118.5", "-3", "±0").
pub fn signed(x: f64, digits: usize) -> String {
    let text = figure(x.abs(), digits);
    if text.trim_start_matches(['0', '.']).is_empty() {
        "±0".to_owned()
    } else if x > 0.0 {
        format!("+{text}")
    } else {
        format!("-{text}")
    }
}

/// The first 12 hex digits of a hash, for tables ("sha256:81ade123160f…").
pub fn short_hash(hash: &str) -> String {
    match hash.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => format!("{alg}:{}…", &hex[..12]),
        _ => hash.to_owned(),
    }
}
