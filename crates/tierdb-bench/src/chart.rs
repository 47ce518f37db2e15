//! Charts as hand-written SVG: a grid of small panels, one per phase, each
//! with its own scale. (No chart crate: plotters cannot lay out text
//! without a font backend, and its font backends need system libraries.)

use std::fmt::Write;

use crate::measure::PhaseResult;
use crate::report::distinct;

const PANEL_W: f64 = 300.0;
const PANEL_H: f64 = 200.0;
const COLUMNS: usize = 3;
const LEGEND_H: f64 = 40.0;
const COLORS: [&str; 10] = [
    "#1f77b4", "#2ca02c", "#17becf", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#ff7f0e",
    "#bcbd22", "#7f7f7f",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// 1234567 -> "1.2M", for axis labels and bar tops.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

struct Canvas {
    svg: String,
    engines: Vec<String>,
}

impl Canvas {
    fn new(panels: usize, engines: Vec<String>, title: &str) -> Canvas {
        let rows = panels.div_ceil(COLUMNS).max(1);
        let w = PANEL_W * COLUMNS as f64;
        let h = LEGEND_H + PANEL_H * rows as f64;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"10\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"6\" y=\"14\" font-size=\"12\" font-weight=\"bold\">{}</text>\n",
            esc(title)
        );
        let mut x = 6.0;
        for (i, e) in engines.iter().enumerate() {
            let _ = writeln!(
                svg,
                "<rect x=\"{x}\" y=\"24\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"33\">{}</text>",
                COLORS[i % COLORS.len()],
                x + 13.0,
                esc(e)
            );
            x += 16.0 + 6.5 * e.len() as f64 + 10.0;
        }
        Canvas { svg, engines }
    }

    fn color(&self, engine: &str) -> &'static str {
        let i = self.engines.iter().position(|e| e == engine).unwrap_or(0);
        COLORS[i % COLORS.len()]
    }

    /// Draws a panel's frame and title; returns the plot area (x, y, w, h).
    fn panel(&mut self, index: usize, title: &str, max: f64) -> (f64, f64, f64, f64) {
        let px = PANEL_W * (index % COLUMNS) as f64;
        let py = LEGEND_H + PANEL_H * (index / COLUMNS) as f64;
        let (x, y, w, h) = (px + 44.0, py + 22.0, PANEL_W - 56.0, PANEL_H - 48.0);
        let _ = writeln!(
            self.svg,
            "<text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}</text>\n<line x1=\"{x}\" y1=\"{y}\" x2=\"{x}\" y2=\"{}\" stroke=\"#444\"/><line x1=\"{x}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#444\"/>",
            px + 8.0,
            py + 14.0,
            esc(title),
            y + h,
            y + h,
            x + w,
            y + h
        );
        for i in 0..=4 {
            let v = max * i as f64 / 4.0;
            let ty = y + h - h * i as f64 / 4.0;
            let _ = writeln!(
                self.svg,
                "<line x1=\"{x}\" y1=\"{ty}\" x2=\"{}\" y2=\"{ty}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                x + w,
                x - 3.0,
                ty + 3.0,
                short(v)
            );
        }
        (x, y, w, h)
    }

    fn finish(mut self) -> String {
        self.svg.push_str("</svg>\n");
        self.svg
    }
}

/// One panel per phase, one bar per engine.
pub fn bars(results: &[PhaseResult], label: &str, value: fn(&PhaseResult) -> f64) -> String {
    let engines = distinct(results.iter().map(|r| r.engine.clone()));
    let phases = distinct(
        results
            .iter()
            .map(|r| (r.workload.clone(), r.n, r.phase.clone())),
    );
    let title = format!("{label} per phase and engine (higher bar = larger value)");
    let mut c = Canvas::new(phases.len(), engines.clone(), &title);
    for (i, (workload, n, phase)) in phases.iter().enumerate() {
        let rows: Vec<&PhaseResult> = results
            .iter()
            .filter(|r| &r.workload == workload && r.n == *n && &r.phase == phase)
            .collect();
        let max = rows.iter().map(|r| value(r)).fold(0.0, f64::max).max(1e-9) * 1.15;
        let (x, y, w, h) = c.panel(
            i,
            &format!("{phase} ({workload}, N={})", short(*n as f64)),
            max,
        );
        let slot = w / engines.len() as f64;
        for r in rows {
            let e = engines.iter().position(|e| e == &r.engine).unwrap_or(0);
            let v = value(r);
            let bh = h * v / max;
            let bx = x + slot * e as f64 + slot * 0.15;
            let _ = writeln!(
                c.svg,
                "<rect x=\"{bx:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\"><title>{}: {v:.1}</title></rect><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"8\">{}</text>",
                y + h - bh,
                slot * 0.7,
                c.color(&r.engine),
                esc(&r.engine),
                bx + slot * 0.35,
                y + h - bh - 2.0,
                short(v)
            );
        }
    }
    c.finish()
}

/// One panel per phase; N on a log axis, one line per engine.
pub fn growth(results: &[PhaseResult], label: &str, value: fn(&PhaseResult) -> f64) -> String {
    // Baselines with no N (the disk's fdatasync rate) have no place here.
    let results: Vec<PhaseResult> = results.iter().filter(|r| r.n > 0).cloned().collect();
    let results = results.as_slice();
    let engines = distinct(results.iter().map(|r| r.engine.clone()));
    let phases = distinct(results.iter().map(|r| r.phase.clone()));
    let ns = distinct(results.iter().map(|r| r.n));
    let (lo, hi) = ns.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &n| {
        (lo.min(n as f64), hi.max(n as f64))
    });
    let (llo, lhi) = (lo.max(1.0).log10(), hi.max(1.0).log10());
    let span = (lhi - llo).max(1e-9);
    let title = format!("{label} against N (log scale) per phase and engine");
    let mut c = Canvas::new(phases.len(), engines.clone(), &title);
    for (i, phase) in phases.iter().enumerate() {
        let rows: Vec<&PhaseResult> = results.iter().filter(|r| &r.phase == phase).collect();
        let max = rows.iter().map(|r| value(r)).fold(0.0, f64::max).max(1e-9) * 1.1;
        let (x, y, w, h) = c.panel(i, phase, max);
        let px = |n: u64| x + w * ((n as f64).max(1.0).log10() - llo) / span;
        for &n in &ns {
            let _ = writeln!(
                c.svg,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                px(n),
                y + h + 12.0,
                short(n as f64)
            );
        }
        for e in &engines {
            let mut points: Vec<(u64, f64)> = rows
                .iter()
                .filter(|r| &r.engine == e)
                .map(|r| (r.n, value(r)))
                .collect();
            points.sort_by_key(|p| p.0);
            let color = c.color(e);
            let path: Vec<String> = points
                .iter()
                .map(|&(n, v)| format!("{:.1},{:.1}", px(n), y + h - h * v / max))
                .collect();
            let _ = writeln!(
                c.svg,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"/>",
                path.join(" ")
            );
            for &(n, v) in &points {
                let _ = writeln!(
                    c.svg,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\"><title>{} N={n}: {v:.1}</title></circle>",
                    px(n),
                    y + h - h * v / max,
                    esc(e)
                );
            }
        }
    }
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(engine: &str, n: u64, phase: &str, ops_per_sec: f64) -> PhaseResult {
        PhaseResult {
            workload: "catalog".into(),
            engine: engine.into(),
            n,
            phase: phase.into(),
            ops: 1,
            unit: "ops".into(),
            secs: 1.0,
            ops_per_sec,
            p50_us: 1.0,
            p99_us: 2.0,
            p999_us: 3.0,
            disk_write_bytes: 0,
            user_write_bytes: 0,
            write_amp: None,
            disk_bytes: 0,
            live_bytes: 0,
            space_amp: None,
            peak_rss_bytes: 0,
        }
    }

    #[test]
    fn charts_are_well_formed_svg_with_every_engine() {
        let rs = vec![
            result("a<b", 1000, "load", 10.0),
            result("c", 1000, "load", 20.0),
            result("a<b", 10_000, "load", 8.0),
            result("c", 10_000, "load", 19.0),
        ];
        for svg in [
            bars(&rs, "ops/s", |r| r.ops_per_sec),
            growth(&rs, "ops/s", |r| r.ops_per_sec),
        ] {
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
            assert!(svg.contains("a&lt;b") && svg.contains(">c<"));
            assert_eq!(svg.matches("<svg").count(), 1);
        }
        assert!(growth(&rs, "x", |r| r.ops_per_sec).contains("<polyline"));
        assert_eq!(short(2_100_000.0), "2.1M");
    }
}
