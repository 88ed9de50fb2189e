//! A source's volume over the last hour, per minute, as an SVG bar chart.

use super::fmt_count;
use domain::tracking::StatPoint;
use leptos::prelude::*;

/// Per-minute volume of the last hour as stacked bars (accepted, flagged, quarantined).
#[component]
pub(super) fn VolumeChart(points: Vec<StatPoint>, now_min: i64) -> impl IntoView {
    let mut bins = [(0i64, 0i64, 0i64); 60];
    for p in &points {
        let age = now_min - p.minute.unix_timestamp() / 60;
        if (0..60).contains(&age) {
            let b = &mut bins[59 - age as usize];
            b.0 += p.counts.accepted - p.counts.flagged;
            b.1 += p.counts.flagged;
            b.2 += p.counts.quarantined;
        }
    }
    let max = bins
        .iter()
        .map(|b| b.0 + b.1 + b.2)
        .max()
        .unwrap_or(0)
        .max(1);
    let total: i64 = bins.iter().map(|b| b.0 + b.1 + b.2).sum();
    let (w, h) = (600.0_f64, 120.0_f64);
    let bw = w / 60.0;
    let scale = |v: i64| v as f64 / max as f64 * (h - 10.0);
    let bars = bins
        .iter()
        .enumerate()
        .flat_map(|(i, (ok, flag, bad))| {
            let x = i as f64 * bw + 1.0;
            let mut y = h;
            let mut out = Vec::new();
            for (v, class) in [(*ok, "bar--ok"), (*flag, "bar--warn"), (*bad, "bar--bad")] {
                if v > 0 {
                    let hh = scale(v).max(1.0);
                    y -= hh;
                    out.push(view! {
                        <rect class=class x=x y=y width=bw - 2.0 height=hh>
                            <title>{format!("{} min ago: {v}", 59 - i)}</title>
                        </rect>
                    });
                }
            }
            out
        })
        .collect_view();
    view! {
        <figure class="chart" data-testid="volume-chart">
            <svg viewBox=format!("0 0 {w} {h}") preserveAspectRatio="none" role="img" aria-label=format!("{total} events in the last hour")>
                <line class="chart__axis" x1="0" y1=h x2=w y2=h />
                {bars}
            </svg>
            <figcaption class="muted">
                {format!("Last 60 minutes, peak {} events/min · ", fmt_count(max))}
                <span class="legend legend--ok">"accepted"</span>" "
                <span class="legend legend--warn">"flagged"</span>" "
                <span class="legend legend--bad">"quarantined"</span>
            </figcaption>
        </figure>
    }
}
