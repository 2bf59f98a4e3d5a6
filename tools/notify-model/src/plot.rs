// SPDX-License-Identifier: GPL-2.0

//! Minimal SVG line charts, so the figures need no plotting dependency.

use std::fmt::Write;

pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    /// Dashed lines for model curves, points for measurements.
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// An SVG chart of `series` with axis labels and a legend.
pub fn chart(title: &str, xlabel: &str, ylabel: &str, series: &[Series<'_>]) -> String {
    let (w, h, ml, mr, mt, mb) = (760.0, 440.0, 70.0, 170.0, 40.0, 50.0);
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let y0 = 0.0;
    let y1 = y1 * 1.05;
    let sx = |x: f64| ml + (x - x0) / (x1 - x0) * (w - ml - mr);
    let sy = |y: f64| h - mb - (y - y0) / (y1 - y0) * (h - mt - mb);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="15">{title}</text>"#,
        ml
    );
    for i in 0..=5 {
        let (xv, yv) = (
            x0 + (x1 - x0) * i as f64 / 5.0,
            y0 + (y1 - y0) * i as f64 / 5.0,
        );
        let _ = writeln!(
            s,
            r##"<line x1="{ml}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{yv:.2}</text><text x="{x}" y="{}" text-anchor="middle">{xv:.2}</text>"##,
            w - mr,
            ml - 6.0,
            sy(yv) + 4.0,
            h - mb + 18.0,
            y = sy(yv),
            x = sx(xv),
        );
    }
    let _ = writeln!(
        s,
        r##"<line x1="{ml}" x2="{ml}" y1="{mt}" y2="{}" stroke="black"/><line x1="{ml}" x2="{}" y1="{}" y2="{}" stroke="black"/>"##,
        h - mb,
        w - mr,
        h - mb,
        h - mb
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{xlabel}</text>"#,
        (ml + w - mr) / 2.0,
        h - 12.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(18,{}) rotate(-90)" text-anchor="middle">{ylabel}</text>"#,
        (mt + h - mb) / 2.0
    );
    for (k, ser) in series.iter().enumerate() {
        let pts: Vec<String> = ser
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        if ser.dashed {
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{}" stroke-width="1.6" stroke-dasharray="5,3" points="{}"/>"#,
                ser.color,
                pts.join(" ")
            );
        } else {
            for p in &pts {
                let (x, y) = p.split_once(',').unwrap();
                let _ = writeln!(
                    s,
                    r#"<circle cx="{x}" cy="{y}" r="2.6" fill="{}"/>"#,
                    ser.color
                );
            }
        }
        let ly = mt + 16.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{}" width="14" height="3" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            w - mr + 10.0,
            ly,
            ser.color,
            w - mr + 30.0,
            ly + 5.0,
            ser.name
        );
    }
    s.push_str("</svg>\n");
    s
}
