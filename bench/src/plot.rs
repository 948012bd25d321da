//! SVG plots of a load run: latency, rate and lag over time, and the
//! latency distribution. SVG text is drawn by the viewer, so no font files
//! or libraries are needed here.

use std::path::Path;

use plotters::prelude::*;
use serde_json::Value;

type Points = Vec<(f64, f64)>;

/// (x, y) pairs of a per-second series, skipping seconds without data.
fn series(timeline: &Value, name: &str) -> Points {
    let xs = timeline["series"]["second"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ys = timeline["series"][name]
        .as_array()
        .cloned()
        .unwrap_or_default();
    xs.iter()
        .zip(ys.iter())
        .filter_map(|(x, y)| Some((x.as_f64()?, y.as_f64()?)))
        .collect()
}

fn max_of(sets: &[&Points]) -> f64 {
    sets.iter()
        .flat_map(|s| s.iter().map(|p| p.1))
        .fold(0.0, f64::max)
}

const COLORS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
];

fn lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    x_max: f64,
    y_desc: &str,
    log_y: bool,
    sets: &[(&str, &Points)],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let refs: Vec<&Points> = sets.iter().map(|s| s.1).collect();
    let y_max = max_of(&refs).max(1.0) * 1.2;
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(64);
    macro_rules! draw {
        ($chart:expr, $clamp:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc("seconds since start")
                .y_desc(y_desc)
                .draw()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for (i, (name, pts)) in sets.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                chart
                    .draw_series(LineSeries::new(
                        pts.iter().map(|&(x, y)| (x, $clamp(y))),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .label(*name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }};
    }
    if log_y {
        let chart = builder
            .build_cartesian_2d(0f64..x_max, (0.1f64..y_max).log_scale())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        draw!(chart, |y: f64| y.max(0.1));
    } else {
        let chart = builder
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        draw!(chart, |y: f64| y);
    }
    Ok(())
}

/// Three panels over the run: p50/p99 of send→push and send-ack per
/// second (by scheduled send time), offered and accepted msg/s, and the
/// projector's lag.
pub fn timeline(path: &Path, title: &str, timeline: &Value) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1100, 1000)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let panels = root.split_evenly((3, 1));
    let lag: Points = timeline["lag"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()?)))
        .collect();
    let (push50, push99, ack50, ack99) = (
        series(timeline, "push_p50_ms"),
        series(timeline, "push_p99_ms"),
        series(timeline, "ack_p50_ms"),
        series(timeline, "ack_p99_ms"),
    );
    let (offered, accepted, errors) = (
        series(timeline, "offered"),
        series(timeline, "accepted_at"),
        series(timeline, "errors"),
    );
    let x_max = [&push99, &offered, &accepted, &lag]
        .iter()
        .flat_map(|s| s.last().map(|p| p.0))
        .fold(1.0, f64::max)
        + 1.0;
    lines(
        &panels[0],
        "latency per second of scheduled send (log scale)",
        x_max,
        "ms",
        true,
        &[
            ("send→push p50", &push50),
            ("send→push p99", &push99),
            ("send ack p50", &ack50),
            ("send ack p99", &ack99),
        ],
    )?;
    lines(
        &panels[1],
        "messages per second",
        x_max,
        "msg/s",
        false,
        &[
            ("offered (scheduled)", &offered),
            ("accepted (by ack time)", &accepted),
            ("errors", &errors),
        ],
    )?;
    lines(
        &panels[2],
        "projector lag: events appended, not yet projected",
        x_max,
        "events",
        false,
        &[("lag", &lag)],
    )?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Latency against percentile, the x axis in "nines" (90%, 99%, 99.9% ...
/// equally spaced) so the tail is visible.
pub fn distribution(path: &Path, title: &str, timeline: &Value) -> anyhow::Result<()> {
    let curve = |name: &str| -> Points {
        timeline["distribution"][name]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let q = p[0].as_f64()?.min(99.999);
                Some((-(1.0 - q / 100.0).log10(), p[1].as_f64()?))
            })
            .collect()
    };
    let (push, ack) = (curve("send_to_push"), curve("send_ack"));
    let y_max = max_of(&[&push, &ack]).max(1.0) * 1.5;
    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..5.0, (0.1f64..y_max).log_scale())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&|x| match x.round() as i32 {
            0 => "p0".into(),
            1 => "p90".into(),
            2 => "p99".into(),
            3 => "p99.9".into(),
            4 => "p99.99".into(),
            _ => "max".into(),
        })
        .x_desc("percentile")
        .y_desc("latency, ms (log scale)")
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (i, (name, pts)) in [("send→push", &push), ("send ack", &ack)]
        .into_iter()
        .enumerate()
    {
        let color = COLORS[i];
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|&(x, y)| (x, y.max(0.1))),
                color.stroke_width(2),
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Writes `<stem>.json` and, for a load run, `<stem>-timeline.svg` and
/// `<stem>-distribution.svg` beside it; returns the files written.
pub fn write_outputs(json_path: &Path, report: &Value) -> anyhow::Result<Vec<String>> {
    if let Some(dir) = json_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(json_path, serde_json::to_string_pretty(report)? + "\n")?;
    let mut written = vec![json_path.display().to_string()];
    if report.get("timeline").is_some() {
        let stem = json_path.with_extension("");
        let name = report["scenario"].as_str().unwrap_or("load");
        let t = stem.with_file_name(format!(
            "{}-timeline.svg",
            stem.file_name().unwrap_or_default().to_string_lossy()
        ));
        timeline(&t, &format!("missive-bench {name}"), &report["timeline"])?;
        let d = stem.with_file_name(format!(
            "{}-distribution.svg",
            stem.file_name().unwrap_or_default().to_string_lossy()
        ));
        distribution(
            &d,
            &format!("missive-bench {name}: latency distribution"),
            &report["timeline"],
        )?;
        written.push(t.display().to_string());
        written.push(d.display().to_string());
    }
    Ok(written)
}
