//! The README's benchmark picture: corio/tokio ratios read from
//! `bench/RESULTS.md`, drawn as an SVG bar chart (`bench/chart.svg`).
//!
//! Regenerate after updating the results: `cargo run -p corio-bench --bin chart`.

/// One bar: what was measured and corio's figure divided by tokio's
/// (below 1: corio is faster or smaller).
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    /// The workload, as the results table names it.
    pub label: String,
    /// corio / tokio.
    pub ratio: f64,
}

/// The cells of a Markdown table row, trimmed (`None` for other lines).
fn cells(line: &str) -> Option<Vec<&str>> {
    let line = line.trim();
    let inner = line.strip_prefix('|')?.strip_suffix('|')?;
    Some(inner.split('|').map(str::trim).collect())
}

/// A number as the tables print it: `1,245`, `0.73`, `196.4 ms`.
fn number(cell: &str) -> Option<f64> {
    let digits: String = cell
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    digits.parse().ok()
}

/// Every ratio the results give against tokio: the rows of the tables with
/// a "ratio corio/tokio" column, those of a "ratio corio/tokio (LTO)"
/// column (labelled "(fat LTO)"), and the TCP echo's instructions per
/// message at 100 connections (each corio server over tokio's).
pub fn ratios(results: &str) -> Vec<Ratio> {
    let mut found = Vec::new();
    let mut ratio_column = None;
    let mut lto_column = None;
    let mut echo_column = None;
    let mut echo_rows: Vec<(String, f64)> = Vec::new();
    for line in results.lines() {
        let Some(row) = cells(line) else {
            ratio_column = None;
            lto_column = None;
            echo_column = None;
            continue;
        };
        if row
            .iter()
            .all(|c| c.starts_with("--") || c.starts_with(":-") || c.is_empty())
        {
            continue; // the separator row
        }
        if let Some(at) = row.iter().position(|c| *c == "ratio corio/tokio") {
            ratio_column = Some(at);
            continue;
        }
        // The LTO builds' figures (issue 33), drawn beside the others.
        if let Some(at) = row.iter().position(|c| *c == "ratio corio/tokio (LTO)") {
            lto_column = Some(at);
            continue;
        }
        if let Some(at) = lto_column
            && let Some(ratio) = row.get(at).and_then(|c| number(c))
        {
            let label = format!("{} (fat LTO)", row[0].replace('`', ""));
            found.push(Ratio { label, ratio });
        }
        if let Some(at) = row
            .iter()
            .position(|c| *c == "instructions/msg (100 conns)")
        {
            echo_column = Some(at);
            continue;
        }
        if let Some(at) = ratio_column
            && let Some(ratio) = row.get(at).and_then(|c| number(c))
        {
            let label = row[0].replace('`', "");
            found.push(Ratio { label, ratio });
        }
        if let Some(at) = echo_column
            && let Some(value) = row.get(at).and_then(|c| number(c))
        {
            echo_rows.push((row[0].to_string(), value));
        }
    }
    if let Some((_, tokio)) = echo_rows.iter().find(|(name, _)| name == "tokio") {
        for (name, value) in &echo_rows {
            if name != "tokio" {
                found.push(Ratio {
                    label: format!("TCP echo, 100 conns: instructions/msg ({name})"),
                    ratio: value / tokio,
                });
            }
        }
    }
    found
}

/// Escapes text for SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Draws the ratios as horizontal bars with tokio's 1.0 marked.
pub fn svg(ratios: &[Ratio]) -> String {
    const LABEL_W: f64 = 470.0;
    const BAR_W: f64 = 330.0;
    const ROW_H: f64 = 24.0;
    const TOP: f64 = 44.0;
    let max = ratios
        .iter()
        .map(|r| r.ratio)
        .fold(2.0_f64, f64::max)
        .ceil();
    let scale = BAR_W / max;
    let height = TOP + ROW_H * ratios.len() as f64 + 36.0;
    let width = LABEL_W + BAR_W + 70.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">corio / tokio current-thread \
         (below 1.0: corio is faster or smaller)</text>\n"
    );
    for (i, r) in ratios.iter().enumerate() {
        let y = TOP + ROW_H * i as f64;
        let w = (r.ratio * scale).max(1.0);
        let color = if r.ratio <= 1.0 { "#2a9d8f" } else { "#e76f51" };
        out += &format!(
            "<text x=\"{x}\" y=\"{ty}\" text-anchor=\"end\">{label}</text>\n\
             <rect x=\"{LABEL_W}\" y=\"{y}\" width=\"{w:.1}\" height=\"{h}\" fill=\"{color}\"/>\n\
             <text x=\"{vx:.1}\" y=\"{ty}\">{ratio:.2}</text>\n",
            x = LABEL_W - 8.0,
            ty = y + 14.0,
            label = escape(&r.label),
            h = ROW_H - 6.0,
            vx = LABEL_W + w + 4.0,
            ratio = r.ratio,
        );
    }
    let one = LABEL_W + scale;
    let bottom = TOP + ROW_H * ratios.len() as f64;
    out += &format!(
        "<line x1=\"{one}\" y1=\"{top}\" x2=\"{one}\" y2=\"{bottom}\" stroke=\"black\" stroke-dasharray=\"4 3\"/>\n\
         <text x=\"{one}\" y=\"{ly}\" text-anchor=\"middle\">tokio = 1.0</text>\n</svg>\n",
        top = TOP - 4.0,
        ly = bottom + 16.0,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_ratio_of_the_recorded_results() {
        let results = include_str!("../RESULTS.md");
        let found = ratios(results);
        assert!(found.len() >= 12, "{found:?}");
        let spawn = found
            .iter()
            .find(|r| r.label.starts_with("spawn+join"))
            .unwrap();
        assert!(
            (spawn.ratio - 0.55).abs() < 1e-9,
            "the latest executor table"
        );
        let echo = found
            .iter()
            .find(|r| r.label.ends_with("(corio-protocol)"))
            .unwrap();
        assert!((echo.ratio - 295.0 / 1245.0).abs() < 1e-9);
        // The LTO table's column, beside the release figures.
        let lto = found
            .iter()
            .find(|r| r.label == "1,000,000-round ping-pong (fat LTO)")
            .unwrap();
        assert!((lto.ratio - 1.584).abs() < 1e-9, "{lto:?}");
        assert!(
            !found
                .iter()
                .any(|r| r.label.starts_with("bytes per pending task (fat LTO)")),
            "a row without a figure draws no bar"
        );
    }

    #[test]
    fn draws_one_bar_per_ratio() {
        let ratios = [
            Ratio {
                label: "a < b".into(),
                ratio: 0.5,
            },
            Ratio {
                label: "c".into(),
                ratio: 1.5,
            },
        ];
        let svg = svg(&ratios);
        assert_eq!(svg.matches("<rect x=").count(), 2);
        assert!(svg.contains("a &lt; b"));
        assert!(svg.contains(">1.50<"));
    }
}
