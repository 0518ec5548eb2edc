//! Inline SVG line charts for the HTML report: axes with round ticks, one
//! path per series, an optional reference line, a legend, and a hover band
//! per point whose tooltip lists the values there. The x axis is either time
//! since the start or percentiles on a "nines" scale (90 %, 99 %, 99.9 % ...
//! equally spaced), as HDR histogram plots draw them.
//!
//! A chart is markup built from numbers only; which series to draw, and how
//! the time series is bucketed, is `series`' job; the page around it `html`'s.
//! No script is needed: tooltips are SVG `<title>`s, colours CSS classes.

use std::fmt::Write;

use super::format::{self, escape};
use crate::report::console::format_ms;

/// Size of every chart in SVG user units; the element scales to its box.
const WIDTH: f64 = 640.0;
/// See [`WIDTH`].
const HEIGHT: f64 = 250.0;
/// Room for the y tick labels.
const MARGIN_LEFT: f64 = 62.0;
/// Room for the last x tick label.
const MARGIN_RIGHT: f64 = 16.0;
/// Room for the top tick label.
const MARGIN_TOP: f64 = 12.0;
/// Room for the x tick labels.
const MARGIN_BOTTOM: f64 = 28.0;
/// About this many y intervals; the nice step decides the exact count.
const Y_TICKS_TARGET: f64 = 5.0;
/// At most this many x intervals.
const X_TICKS_MAX: f64 = 8.0;
/// Round x steps in seconds, smallest first.
const X_STEPS_S: [f64; 16] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    21600.0, 86400.0,
];

/// What a chart's values measure, which decides how they are written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    /// Events per second.
    PerSecond,
    /// Milliseconds.
    Ms,
    /// Bytes per second.
    BytesPerSecond,
    /// Percent, 0 to 100 (and above, for oversubscribed CPUs).
    Percent,
    /// A plain count, such as users.
    Count,
}

impl Unit {
    /// The value as a tooltip shows it.
    fn value(self, v: f64) -> String {
        match self {
            Unit::PerSecond => format::rate(v),
            Unit::Ms => format!("{} ms", format_ms(v)),
            Unit::BytesPerSecond => format!("{}/s", format::bytes(v)),
            Unit::Percent => format!("{v:.0}%"),
            Unit::Count => format::count(v.round().max(0.0) as u64),
        }
    }

    /// Divisor and suffix for tick labels on an axis up to `top`.
    fn scale(self, top: f64) -> (f64, &'static str) {
        match self {
            Unit::PerSecond | Unit::Count if top >= 1e6 => (1e6, "M"),
            Unit::PerSecond | Unit::Count if top >= 1e4 => (1e3, "k"),
            Unit::PerSecond | Unit::Count => (1.0, ""),
            Unit::Ms if top >= 10_000.0 => (1_000.0, " s"),
            Unit::Ms => (1.0, " ms"),
            Unit::BytesPerSecond if top >= 1024.0 * 1024.0 * 1024.0 => {
                (1024.0 * 1024.0 * 1024.0, " GiB/s")
            }
            Unit::BytesPerSecond if top >= 1024.0 * 1024.0 => (1024.0 * 1024.0, " MiB/s"),
            Unit::BytesPerSecond if top >= 1024.0 => (1024.0, " KiB/s"),
            Unit::BytesPerSecond => (1.0, " B/s"),
            Unit::Percent => (1.0, "%"),
        }
    }
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Name in the legend and tooltips.
    pub label: String,
    /// Palette index: the line gets CSS class `s{color}`.
    pub color: usize,
    /// Drawn dashed, for reference-like series such as an offered rate.
    pub dashed: bool,
    /// One value per point; `None` leaves a gap (no data there).
    pub values: Vec<Option<f64>>,
}

/// What the x axis measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum XScale {
    /// Seconds since the start of the run.
    Seconds,
    /// Nines of a percentile: x is `-log10(1 - q)`, so 1 is 90 %, 2 is 99 %.
    Nines,
}

/// A line chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Element id, for links and tests.
    pub id: String,
    /// Caption above the chart.
    pub title: String,
    /// What the values measure.
    pub unit: Unit,
    /// What x is.
    pub x_scale: XScale,
    /// Each point's span on the x axis, `(start, end)`; the point is drawn
    /// at its end and hovered over the whole span.
    pub spans: Vec<(f64, f64)>,
    /// The lines.
    pub series: Vec<Series>,
    /// A labelled horizontal line, e.g. the 90 % CPU mark.
    pub reference: Option<(f64, String)>,
    /// A short remark under the caption, e.g. how points were averaged.
    pub note: Option<String>,
    /// A sentence under the plot, e.g. which series were left out and why.
    pub footnote: Option<String>,
}

/// Where data coordinates land in the SVG.
struct Frame {
    /// The x at the left edge of the plot: where the first value is drawn.
    x_min: f64,
    /// The x at the right edge, above `x_min`.
    x_max: f64,
    y_top: f64,
}

impl Frame {
    fn x(&self, x: f64) -> f64 {
        MARGIN_LEFT
            + (x - self.x_min) / (self.x_max - self.x_min) * (WIDTH - MARGIN_LEFT - MARGIN_RIGHT)
    }

    fn y(&self, value: f64) -> f64 {
        HEIGHT - MARGIN_BOTTOM - value / self.y_top * (HEIGHT - MARGIN_TOP - MARGIN_BOTTOM)
    }
}

/// The chart as a `<figure>`: caption, legend and SVG.
pub fn render(chart: &Chart) -> String {
    let y_max = chart
        .series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .chain(chart.reference.iter().map(|(v, _)| v))
        .fold(
            0.0f64,
            |max, &v| if v.is_finite() { max.max(v) } else { max },
        );
    let (y_step, y_top) = y_ticks(chart.unit, y_max);
    let (x_min, x_max) = x_range(chart);
    let frame = Frame {
        x_min,
        x_max,
        y_top,
    };

    let mut out = String::new();
    let _ = write!(out, "<figure class=\"chart\" id=\"{}\">", escape(&chart.id));
    let _ = write!(out, "<figcaption>{}", escape(&chart.title));
    if let Some(note) = &chart.note {
        let _ = write!(out, " <small>{}</small>", escape(note));
    }
    out.push_str("</figcaption>");
    out.push_str(&legend(chart));
    let _ = write!(
        out,
        "<svg class=\"plot\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        escape(&chart.title)
    );
    out.push_str(&y_axis(chart.unit, &frame, y_step));
    out.push_str(&x_axis(chart.x_scale, &frame));
    if let Some((value, label)) = &chart.reference {
        let y = frame.y(*value);
        let _ = write!(
            out,
            "<line class=\"ref\" x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"ref-label\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            MARGIN_LEFT,
            WIDTH - MARGIN_RIGHT,
            WIDTH - MARGIN_RIGHT - 4.0,
            y - 4.0,
            escape(label)
        );
    }
    for series in &chart.series {
        out.push_str(&line(series, &chart.spans, &frame));
    }
    out.push_str(&hover_bands(chart, &frame));
    out.push_str("</svg>");
    if let Some(footnote) = &chart.footnote {
        let _ = write!(out, "<p class=\"chart-note\">{}</p>", escape(footnote));
    }
    out.push_str("</figure>");
    out
}

/// The x range drawn: from the first point with a value (points are drawn
/// at their span's end) to the last span's end. A chart with one such point,
/// or none, starts at that point's span instead, so the range is never empty.
fn x_range(chart: &Chart) -> (f64, f64) {
    let has_value = |index: usize| {
        chart.series.iter().any(|s| {
            s.values
                .get(index)
                .copied()
                .flatten()
                .is_some_and(f64::is_finite)
        })
    };
    let first = (0..chart.spans.len()).find(|&i| has_value(i));
    let end = chart.spans.iter().map(|s| s.1).fold(f64::MIN, f64::max);
    let end = match chart.x_scale {
        XScale::Seconds => end,
        XScale::Nines => end.ceil(),
    };
    let start = match first {
        Some(i) if chart.spans[i].1 < end => chart.spans[i].1,
        Some(i) => chart.spans[i].0,
        None => chart.spans.first().map_or(0.0, |s| s.0),
    };
    let start = if start.is_finite() { start } else { 0.0 };
    let end = if end > start { end } else { start + 1.0 };
    (start, end)
}

/// The legend: a swatch and label per series.
fn legend(chart: &Chart) -> String {
    let mut out = String::from("<ul class=\"legend\">");
    for series in &chart.series {
        let dashed = if series.dashed { " dashed" } else { "" };
        let _ = write!(
            out,
            "<li><span class=\"swatch s{}{dashed}\"></span>{}</li>",
            series.color,
            escape(&series.label)
        );
    }
    out.push_str("</ul>");
    out
}

/// Horizontal grid lines with their labels.
fn y_axis(unit: Unit, frame: &Frame, step: f64) -> String {
    let (divisor, suffix) = unit.scale(frame.y_top);
    let decimals = decimals_for(step / divisor);
    let mut out = String::from("<g class=\"axis y\">");
    let ticks = (frame.y_top / step).round() as usize;
    for i in 0..=ticks {
        let value = step * i as f64;
        let y = frame.y(value);
        let label = if i == 0 {
            "0".to_string()
        } else {
            format!("{:.*}{suffix}", decimals, value / divisor)
        };
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{MARGIN_LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{label}</text>",
            WIDTH - MARGIN_RIGHT,
            MARGIN_LEFT - 6.0,
            y + 3.5
        );
    }
    out.push_str("</g>");
    out
}

/// The x axis: a base line and round ticks, in seconds since the start or in nines.
fn x_axis(scale: XScale, frame: &Frame) -> String {
    let range = frame.x_max - frame.x_min;
    let step = match scale {
        XScale::Seconds => X_STEPS_S
            .iter()
            .copied()
            .find(|step| range / step <= X_TICKS_MAX)
            .unwrap_or_else(|| (range / X_TICKS_MAX / 86_400.0).ceil() * 86_400.0),
        XScale::Nines => 1.0,
    };
    let base = HEIGHT - MARGIN_BOTTOM;
    let mut out = format!(
        "<g class=\"axis x\"><line class=\"base\" x1=\"{MARGIN_LEFT}\" x2=\"{:.1}\" y1=\"{base}\" y2=\"{base}\"/>",
        WIDTH - MARGIN_RIGHT
    );
    // Round ticks from the first at or after the left edge (a hair of slack
    // for floating point) to the right edge.
    let slack = step * 1e-9;
    let first = ((frame.x_min - slack) / step).ceil() as i64;
    let last = ((frame.x_max + slack) / step).floor() as i64;
    for i in first..=last {
        let at = step * i as f64;
        let x = frame.x(at);
        let label = match scale {
            XScale::Seconds => format::duration_s(at),
            XScale::Nines => format!("{}%", nines_percentile(at)),
        };
        // A label at the right edge ends there instead of being cut off.
        let anchor = if x > WIDTH - MARGIN_RIGHT - 24.0 {
            " class=\"end\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<line class=\"tick\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{base}\" y2=\"{:.1}\"/>\
             <text{anchor} x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
            base + 4.0,
            base + 16.0,
            label
        );
    }
    out.push_str("</g>");
    out
}

/// One series as a path; a gap starts a new sub-path. Empty when no value exists.
fn line(series: &Series, spans: &[(f64, f64)], frame: &Frame) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for (value, span) in series.values.iter().zip(spans) {
        match value {
            Some(v) if v.is_finite() => {
                let command = if pen_down { 'L' } else { 'M' };
                let _ = write!(d, "{command}{:.1} {:.1}", frame.x(span.1), frame.y(*v));
                pen_down = true;
            }
            _ => pen_down = false,
        }
    }
    if d.is_empty() {
        return String::new();
    }
    let dashed = if series.dashed { " dashed" } else { "" };
    format!(
        "<path class=\"line s{}{dashed}\" d=\"{d}\"><title>{}</title></path>",
        series.color,
        escape(&series.label)
    )
}

/// Transparent bands, one per point on the plot, whose tooltips list every
/// series' value. A band reaches half way to each neighbouring point (to the
/// plot's edge for the first and last), so hovering anywhere picks the
/// nearest point. Points left of the plot (a gap before the data) get none.
fn hover_bands(chart: &Chart, frame: &Frame) -> String {
    let mut out = String::from("<g class=\"hover\">");
    let top = MARGIN_TOP;
    let height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let (left, right) = (MARGIN_LEFT, WIDTH - MARGIN_RIGHT);
    let shown: Vec<(usize, f64)> = chart
        .spans
        .iter()
        .enumerate()
        .map(|(index, span)| (index, frame.x(span.1)))
        .filter(|&(_, x)| x >= left - 0.05)
        .map(|(index, x)| (index, x.min(right)))
        .collect();
    for (at, &(index, x)) in shown.iter().enumerate() {
        let (start, end) = chart.spans[index];
        let x0 = match at {
            0 => left,
            _ => (shown[at - 1].1 + x) / 2.0,
        };
        let x1 = shown
            .get(at + 1)
            .map_or(right, |&(_, next)| (x + next) / 2.0);
        let mut title = match chart.x_scale {
            XScale::Seconds => format!(
                "{} – {}",
                format::duration_s(start),
                format::duration_s(end)
            ),
            XScale::Nines => format!("p{}", nines_percentile(end)),
        };
        for series in &chart.series {
            let value = series.values.get(index).copied().flatten();
            let text = value.map_or("–".to_string(), |v| chart.unit.value(v));
            let _ = write!(title, "\n{}: {text}", series.label);
        }
        let _ = write!(
            out,
            "<rect x=\"{x0:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{height}\"><title>{}</title></rect>",
            (x1 - x0).max(0.5),
            escape(&title)
        );
    }
    out.push_str("</g>");
    out
}

/// A round y step (1, 2 or 5 times a power of ten, in the axis' display
/// unit) and the axis top, a multiple of it at or above `max`.
fn y_ticks(unit: Unit, max: f64) -> (f64, f64) {
    let max = if max > 0.0 { max } else { 1.0 };
    let (divisor, _) = unit.scale(max);
    let raw = max / divisor / Y_TICKS_TARGET;
    let magnitude = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude);
    if unit == Unit::Count {
        step = step.max(1.0);
    }
    let step = step * divisor;
    let top = (max / step).ceil().max(1.0) * step;
    // The top may cross into a bigger display unit (999 -> 1k); that only
    // changes the labels' suffix, so the step stays as chosen.
    (step, top)
}

/// The percentile at `nines` (`-log10(1 - q)`) as text without trailing zeros:
/// 0 is `0`, 1 is `90`, 2.5 is `99.68`, 3 is `99.9`.
pub fn nines_percentile(nines: f64) -> String {
    let percent = 100.0 * (1.0 - 10f64.powf(-nines));
    let decimals = (nines.ceil() as usize).saturating_sub(1).max(2);
    let text = format!("{percent:.decimals$}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Decimals needed to tell ticks `step` apart.
fn decimals_for(step: f64) -> usize {
    if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(values: Vec<Option<f64>>) -> Chart {
        let spans = (0..values.len())
            .map(|i| (i as f64, i as f64 + 1.0))
            .collect();
        Chart {
            id: "rps".into(),
            title: "Requests <per> second".into(),
            unit: Unit::PerSecond,
            x_scale: XScale::Seconds,
            spans,
            series: vec![Series {
                label: "Requests/s".into(),
                color: 0,
                dashed: false,
                values,
            }],
            reference: Some((90.0, "90 %".into())),
            note: None,
            footnote: None,
        }
    }

    /// Y steps are 1, 2 or 5 times a power of ten and the top covers the maximum.
    #[test]
    fn y_ticks_are_round() {
        let cases = [
            (Unit::PerSecond, 0.0, 0.2, 1.0),
            (Unit::PerSecond, 93.0, 20.0, 100.0),
            (Unit::PerSecond, 12_345.0, 5_000.0, 15_000.0),
            (Unit::Ms, 0.37, 0.1, 0.4),
            (Unit::Count, 3.0, 1.0, 3.0),
            (Unit::Percent, 100.0, 20.0, 100.0),
        ];
        for (unit, max, step, top) in cases {
            let (s, t) = y_ticks(unit, max);
            assert!(
                (s - step).abs() < 1e-9 && (t - top).abs() < 1e-9,
                "{unit:?} {max}: {s} {t}"
            );
        }
        let (step, top) = y_ticks(Unit::BytesPerSecond, 3.0 * 1024.0 * 1024.0);
        assert_eq!((step, top), (1024.0 * 1024.0, 3.0 * 1024.0 * 1024.0));
    }

    /// Values become one path per series; a gap splits it into sub-paths.
    #[test]
    fn paths_break_at_gaps() {
        let svg = render(&chart(vec![Some(10.0), Some(20.0), None, Some(5.0)]));
        let d = svg
            .split("class=\"line s0\" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 1, "{d}");
        assert_eq!(svg.matches("<rect ").count(), 4);
        assert!(svg.contains("Requests &lt;per&gt; second"));
        assert!(svg.contains("3s – 4s\nRequests/s: 5.00"));
        assert!(svg.contains("class=\"ref\""));
    }

    /// Nines read as percentiles, on the axis and in tooltips.
    #[test]
    fn nines_are_percentiles() {
        let cases = [
            (0.0, "0"),
            (1.0, "90"),
            (2.0, "99"),
            (2.5, "99.68"),
            (3.0, "99.9"),
            (4.0, "99.99"),
        ];
        for (nines, text) in cases {
            assert_eq!(nines_percentile(nines), text, "{nines}");
        }
        let mut c = chart(vec![Some(1.0), Some(2.0), Some(3.0)]);
        c.x_scale = XScale::Nines;
        c.spans = vec![(0.0, 0.0), (0.0, 1.0), (1.0, 2.5)];
        let svg = render(&c);
        assert!(
            svg.contains(">99%</text>")
                && svg.contains(">99.9%</text>")
                && !svg.contains(">99.99%<")
        );
        assert!(
            svg.contains("<title>p99.68\nRequests/s: 3.00</title>"),
            "{svg}"
        );
    }

    /// The x axis starts at the first point with a value: no empty stretch
    /// before the data (not from 0, nor from an earlier gap), and the ticks
    /// begin there too.
    #[test]
    fn time_axis_starts_where_the_data_does() {
        let first_point = |svg: &str| -> f64 {
            let d = svg.split(" d=\"M").nth(1).unwrap();
            d.split(' ').next().unwrap().parse().unwrap()
        };
        let tick_labels = |svg: &str| -> Vec<String> {
            let axis = svg.split("<g class=\"axis x\">").nth(1).unwrap();
            let axis = axis.split("</g>").next().unwrap();
            axis.split("</text>")
                .filter_map(|t| t.rsplit('>').next())
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        };
        // Seconds 1 to 4, drawn at 1 s ... 4 s: the plot spans 1 s to 4 s.
        let svg = render(&chart(vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0)]));
        assert_eq!(first_point(&svg), MARGIN_LEFT);
        assert_eq!(tick_labels(&svg), ["1s", "2s", "3s", "4s"]);
        // A gap first (no source reported): the axis starts at the first value.
        let svg = render(&chart(vec![None, None, Some(3.0), Some(4.0), Some(5.0)]));
        assert_eq!(first_point(&svg), MARGIN_LEFT);
        assert_eq!(tick_labels(&svg), ["3s", "4s", "5s"]);
        // A run whose points begin late (seconds 101 to 160).
        let mut late = chart(vec![Some(1.0); 60]);
        late.spans = (100..160).map(|s| (s as f64, s as f64 + 1.0)).collect();
        let svg = render(&late);
        assert_eq!(first_point(&svg), MARGIN_LEFT);
        let ticks = tick_labels(&svg);
        assert!(!ticks.contains(&"0s".to_string()), "{ticks:?}");
        assert_eq!(
            ticks.first().map(String::as_str),
            Some("1m50s"),
            "{ticks:?}"
        );
        // One point: drawn over its own span, never a zero-width range.
        let svg = render(&chart(vec![Some(7.0)]));
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        // The hover bands cover the plot from edge to edge, without overlap.
        let svg = render(&chart(vec![None, Some(1.0), Some(2.0)]));
        let xs: Vec<(f64, f64)> = svg
            .split("<rect x=\"")
            .skip(1)
            .map(|r| {
                let x: f64 = r.split('"').next().unwrap().parse().unwrap();
                let width = r.split("width=\"").nth(1).unwrap();
                (x, width.split('"').next().unwrap().parse().unwrap())
            })
            .collect();
        assert_eq!(xs[0].0, MARGIN_LEFT);
        for pair in xs.windows(2) {
            assert!((pair[0].0 + pair[0].1 - pair[1].0).abs() < 0.15, "{xs:?}");
        }
        let (last_x, last_width) = xs[xs.len() - 1];
        assert!(
            (last_x + last_width - (WIDTH - MARGIN_RIGHT)).abs() < 0.15,
            "{xs:?}"
        );
    }

    /// A footnote is shown under the plot, escaped.
    #[test]
    fn footnote_is_shown_under_the_plot() {
        let mut c = chart(vec![Some(1.0), Some(2.0)]);
        c.footnote = Some("Not drawn: GET /<a>".into());
        let svg = render(&c);
        assert!(
            svg.ends_with("</svg><p class=\"chart-note\">Not drawn: GET /&lt;a&gt;</p></figure>"),
            "{svg}"
        );
    }

    /// A series without any value draws no path, and the axes still have ticks.
    #[test]
    fn empty_series_draw_no_path() {
        let svg = render(&chart(vec![None, None]));
        assert!(!svg.contains("<path"));
        assert!(svg.matches("class=\"grid\"").count() >= 2);
        assert!(svg.matches("class=\"tick\"").count() >= 2);
    }
}
