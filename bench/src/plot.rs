//! An SVG of latency against percentile for every mode of one variant,
//! with the oracle bound dashed. The percentile axis is `−log10(1 − p)`,
//! so 90 %, 99 %, 99.9 %… are evenly spaced and the tail gets the room;
//! latency is on a log scale. Hand-written SVG: no plotting dependency.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// One line of the plot.
pub struct Series<'a> {
    /// Legend text.
    pub label: String,
    /// Latencies in µs.
    pub histogram: &'a Histogram<u64>,
    /// Drawn dashed (the oracle).
    pub dashed: bool,
}

const WIDTH: f64 = 820.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const COLOURS: [&str; 7] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#555555",
];

/// The points of one series: (`−log10(1 − p)`, latency in µs), up to the
/// deepest percentile its sample count supports.
pub fn points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let depth = (h.len() as f64).log10().clamp(0.0, 6.0);
    let steps = (depth * 40.0).ceil() as usize;
    let mut out: Vec<(f64, f64)> = (0..=steps)
        .map(|i| {
            let x = depth * i as f64 / steps.max(1) as f64;
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q).max(1) as f64)
        })
        .collect();
    out.push((depth, h.max().max(1) as f64));
    out
}

/// The SVG document for `series` under `title`.
pub fn svg(title: &str, series: &[Series<'_>]) -> String {
    let all: Vec<Vec<(f64, f64)>> = series.iter().map(|s| points(s.histogram)).collect();
    let x_max = all
        .iter()
        .flatten()
        .map(|p| p.0)
        .fold(1.0f64, f64::max)
        .ceil();
    let (lo, hi) = all
        .iter()
        .flatten()
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
    let (y_lo, y_hi) = if lo.is_finite() {
        (
            lo.log10().floor(),
            hi.log10().ceil().max(lo.log10().floor() + 1.0),
        )
    } else {
        (0.0, 1.0)
    };
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let sx = |x: f64| LEFT + x / x_max * plot_w;
    let sy = |us: f64| TOP + plot_h - (us.log10() - y_lo) / (y_hi - y_lo) * plot_h;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="22" font-size="15">{}</text>"#,
        escape(title)
    );
    // Axes and grid.
    for d in 0..=(x_max as u32) {
        let x = sx(f64::from(d));
        let label = match d {
            0 => "0%".to_owned(),
            d => format!("{}%", 100.0 - 100.0 * 10f64.powi(-(d as i32))),
        };
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0
        );
    }
    for e in (y_lo as i32)..=(y_hi as i32) {
        let us = 10f64.powi(e);
        let y = sy(us);
        let label = if us >= 1000.0 {
            format!("{} ms", us / 1000.0)
        } else {
            format!("{us} µs")
        };
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile (log scale on the tail)</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 10.0
    );
    let _ = writeln!(
        out,
        r#"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">latency (log scale)</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    // Lines and legend.
    for (i, (s, pts)) in series.iter().zip(&all).enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{}"/>"#,
            path.join(" ")
        );
        let ly = TOP + 10.0 + 20.0 * i as f64;
        let lx = LEFT + plot_w + 14.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            escape(&s.label)
        );
    }
    out.push_str("</svg>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder;

    #[test]
    fn points_reach_as_deep_as_the_samples_allow_and_never_fall() {
        let mut h = recorder::histogram();
        for us in 1..=1000u64 {
            h.record(us).unwrap();
        }
        let pts = points(&h);
        assert!(
            (pts.last().unwrap().0 - 3.0).abs() < 1e-9,
            "1,000 samples: up to p99.9"
        );
        assert!(pts.windows(2).all(|w| w[0].1 <= w[1].1));
        assert!(points(&recorder::histogram()).is_empty());
    }

    #[test]
    fn svg_has_a_line_and_a_legend_entry_per_series() {
        let mut h = recorder::histogram();
        for us in [100u64, 200, 5000] {
            h.record(us).unwrap();
        }
        let doc = svg(
            "t <1>",
            &[
                Series {
                    label: "plain-fanout".into(),
                    histogram: &h,
                    dashed: false,
                },
                Series {
                    label: "oracle".into(),
                    histogram: &h,
                    dashed: true,
                },
            ],
        );
        assert_eq!(doc.matches("<polyline").count(), 2);
        assert!(doc.contains("plain-fanout") && doc.contains("t &lt;1&gt;"));
        assert!(doc.trim_end().ends_with("</svg>"));
    }
}
