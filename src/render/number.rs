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
    // View entries come from plan files: never slice text that may not be ASCII.
    match hash.split_once(':') {
        Some((alg, hex)) if hex.chars().count() > 12 => format!("{alg}:{}…", hex.chars().take(12).collect::<String>()),
        _ => hash.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_without_noise() {
        assert_eq!(figure(151.5, 1), "151.5");
        assert_eq!(figure(400.0, 1), "400");
        assert_eq!(signed(0.0000001, 3), "±0");
        assert_eq!(signed(-3.25, 3), "-3.25");
        assert_eq!(signed(12.0, 3), "+12");
        assert_eq!(short_hash("sha256:0123456789abcdef"), "sha256:0123456789ab…");
        assert_eq!(short_hash("x:ééééééééééééé"), "x:éééééééééééé…");
        assert_eq!(short_hash("-"), "-");
    }
}
