//! A small bar chart of deliveries per company per day, drawn on the server as SVG: no script,
//! no chart library, readable in either text direction.

use maud::{html, Markup};

/// One company's series: its name and a count per day (same days, same order, for every series).
pub struct Series {
    pub name: String,
    pub values: Vec<i64>,
}

const COLOURS: [&str; 6] = [
    "#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2",
];

/// Grouped bars: one group per day, one bar per company, with the day's label under it.
pub fn deliveries(days: &[String], series: &[Series]) -> Markup {
    let width = 640.0_f64;
    let height = 200.0_f64;
    let top = 10.0;
    let bottom = 30.0;
    let left = 40.0;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let plot_height = height - top - bottom;
    let group = (width - left) / days.len().max(1) as f64;
    let bar = (group * 0.8) / series.len().max(1) as f64;
    html! {
        svg class="chart" role="img" aria-label="deliveries per company per day"
            viewBox=(format!("0 0 {width} {}", height + 20.0 * series.len().div_ceil(3) as f64))
            xmlns="http://www.w3.org/2000/svg" direction="ltr" {
            line x1=(left) y1=(top + plot_height) x2=(width) y2=(top + plot_height) stroke="#999" {}
            text x=(left - 4.0) y=(top + 8.0) text-anchor="end" font-size="10" { (max as i64) }
            text x=(left - 4.0) y=(top + plot_height) text-anchor="end" font-size="10" { "0" }
            @for (d, day) in days.iter().enumerate() {
                @let x0 = left + d as f64 * group + group * 0.1;
                @for (s, one) in series.iter().enumerate() {
                    @let value = one.values.get(d).copied().unwrap_or(0);
                    @let h = value as f64 / max * plot_height;
                    rect x=(format!("{:.1}", x0 + s as f64 * bar)) y=(format!("{:.1}", top + plot_height - h))
                        width=(format!("{:.1}", bar.max(1.0) - 1.0)) height=(format!("{:.1}", h))
                        fill=(COLOURS[s % COLOURS.len()]) data-company=(one.name) data-day=(day) data-value=(value) {
                        title { (one.name) " " (day) ": " (value) }
                    }
                }
                text x=(format!("{:.1}", x0 + group * 0.4)) y=(top + plot_height + 14.0) text-anchor="middle" font-size="10" {
                    (day.get(5..).unwrap_or(day))
                }
            }
            @for (s, one) in series.iter().enumerate() {
                @let x = left + (s % 3) as f64 * 200.0;
                @let y = height + 4.0 + (s / 3) as f64 * 20.0;
                rect x=(x) y=(y) width="10" height="10" fill=(COLOURS[s % COLOURS.len()]) {}
                text x=(x + 14.0) y=(y + 9.0) font-size="11" { (one.name) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_is_a_bar_scaled_to_the_largest() {
        let days = vec!["2026-11-01".to_owned(), "2026-11-02".to_owned()];
        let series = vec![
            Series {
                name: "advline".into(),
                values: vec![10, 20],
            },
            Series {
                name: "clarastars".into(),
                values: vec![0, 5],
            },
        ];
        let svg = deliveries(&days, &series).into_string();
        assert_eq!(svg.matches("<rect").count(), 4 + 2, "{svg}");
        assert!(svg.contains(r#"data-company="advline" data-day="2026-11-02" data-value="20""#));
        // The largest bar spans the whole plot height (160), a zero bar has none.
        assert!(
            svg.contains(
                r##"height="160.0" fill="#2563eb" data-company="advline" data-day="2026-11-02""##
            ),
            "{svg}"
        );
        assert!(
            svg.contains(
                r##"height="0.0" fill="#16a34a" data-company="clarastars" data-day="2026-11-01""##
            ),
            "{svg}"
        );
    }
}
