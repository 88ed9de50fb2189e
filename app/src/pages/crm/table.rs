//! Rendering of cells and tables shared by lists and record pages.

use super::model::{Cell, Column, Row};
use crate::components::ui::LocalTime;
use leptos::prelude::*;
use leptos_router::components::A;

/// One cell.
#[component]
pub fn CellView(cell: Cell) -> impl IntoView {
    match cell {
        Cell::Text(t) => view! { <span>{t}</span> }.into_any(),
        Cell::Link { text, href } => view! { <A href=href>{text}</A> }.into_any(),
        Cell::Badge { text, tone } => view! { <span class=tone.class()>{text}</span> }.into_any(),
        Cell::Money(m) => view! { <span class="num">{m}</span> }.into_any(),
        Cell::Time(t) => view! { <LocalTime utc=t /> }.into_any(),
        Cell::Empty => view! { <span class="muted">"—"</span> }.into_any(),
    }
}

/// A plain table of rows (no sorting), for related records.
#[component]
pub fn SimpleTable(columns: Vec<Column>, rows: Vec<Row>) -> impl IntoView {
    let numeric: Vec<bool> = columns.iter().map(|c| c.numeric).collect();
    view! {
        <div class="table-wrap">
            <table class="table">
                <thead>
                    <tr>
                        {columns
                            .into_iter()
                            .map(|c| view! { <th class:num=c.numeric>{c.label}</th> })
                            .collect_view()}
                    </tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|r| {
                            let numeric = numeric.clone();
                            view! {
                                <tr>
                                    {r.cells
                                        .into_iter()
                                        .enumerate()
                                        .map(|(i, c)| view! { <td class:num=numeric.get(i).copied().unwrap_or(false)><CellView cell=c /></td> })
                                        .collect_view()}
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
