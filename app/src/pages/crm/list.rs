//! The list page of any CRM record kind: saved views, search, filters, sortable columns and
//! cursor pagination, all in the URL so every view can be bookmarked and shared.

use super::api::crm_list;
use super::model::{list_href, ListView};
use super::table::CellView;
use crate::components::ui::EmptyState;
use domain::crm::RecordKind;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

/// The query string of a params map with some keys replaced (empty value removes the key).
fn with(params: &ParamsMap, changes: &[(&str, &str)]) -> String {
    let mut p = params.clone();
    for (k, v) in changes {
        p.remove(k);
        if !v.is_empty() {
            p.insert(k.to_string(), v.to_string());
        }
    }
    query_string(&p)
}

/// `?k=v&…` without empty values (an unset filter the search form submitted), escaped the
/// same way on the server and in the browser.
///
/// `ParamsMap::to_query_string` escapes `_` on the server but not in the browser, and
/// hydration keeps the server's attributes, so a link could differ from the one the browser
/// would build for the same view.
fn query_string(params: &ParamsMap) -> String {
    let pairs: Vec<String> = params
        .into_iter()
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// Percent-encodes what `encodeURIComponent` encodes (everything but `A–Z a–z 0–9 - _ . ! ~ * ' ( )`).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether the page shows exactly a saved view's query (`a=1&b=x,y`, unescaped).
fn is_saved_view(params: &ParamsMap, saved: &str) -> bool {
    let mut shown: Vec<(&str, &str)> = params
        .into_iter()
        .map(|(k, v)| (k.as_ref(), v))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let mut wanted: Vec<(&str, &str)> = saved
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    shown.sort_unstable();
    wanted.sort_unstable();
    shown == wanted
}

/// A CRM list page for one record kind.
#[component]
pub fn RecordListPage(kind: RecordKind) -> impl IntoView {
    let query = use_query_map();
    let qs = move || query.with(|q| q.to_query_string().trim_start_matches('?').to_string());
    let list = Resource::new(qs, move |q| crm_list(kind, q));
    // The previous results stay on screen while a new search loads; they are marked busy so
    // nobody mistakes them for the answer (and tests can wait for the real one).
    let (refreshing, set_refreshing) = signal(false);

    #[cfg(feature = "hydrate")]
    {
        // "/" jumps to the search box, as in most workbenches.
        let handle = window_event_listener(leptos::ev::keydown, |ev| {
            if ev.key() == "/" {
                let target_is_input = ev
                    .target()
                    .and_then(|t| {
                        leptos::wasm_bindgen::JsCast::dyn_into::<leptos::web_sys::HtmlElement>(t)
                            .ok()
                    })
                    .map(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"))
                    .unwrap_or(false);
                if !target_is_input {
                    if let Some(el) = document().get_element_by_id("list-search") {
                        if let Ok(input) = leptos::wasm_bindgen::JsCast::dyn_into::<
                            leptos::web_sys::HtmlElement,
                        >(el)
                        {
                            ev.prevent_default();
                            let _ = input.focus();
                        }
                    }
                }
            }
        });
        on_cleanup(move || handle.remove());
    }

    view! {
        <Title text=kind.label() />
        <Transition
            fallback=|| view! { <div class="loading" aria-busy="true">"Loading…"</div> }
            set_pending=set_refreshing
        >
            {move || Suspend::new(async move {
                match list.await {
                    Ok(v) => view! { <ListBody view=v refreshing=refreshing /> }.into_any(),
                    Err(e) => view! {
                        <div class="notice notice--error" role="alert">{e.to_string()}</div>
                        <A href=list_href(kind) attr:class="button">"Reset the list"</A>
                    }
                    .into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ListBody(view: ListView, refreshing: ReadSignal<bool>) -> impl IntoView {
    let query = use_query_map();
    let params = query.get_untracked();
    let base = list_href(view.kind);
    let current_sort = params.get("sort").unwrap_or_default();
    let sort_for_form = current_sort.clone();
    let base_for_empty = base.clone();
    let has_cursor = params.get("cursor").is_some();
    let current_q = params.get("q").unwrap_or_default();
    let export = format!(
        "/api/v1/{}/export.csv{}",
        view.kind.collection(),
        with(&params, &[("cursor", "")])
    );
    let numeric: Vec<bool> = view.columns.iter().map(|c| c.numeric).collect();
    let empty = view.rows.is_empty();
    let filtered = (&params)
        .into_iter()
        .any(|(k, v)| k != "sort" && !v.is_empty());
    let title = view.title.clone();

    view! {
        <div class="page-header">
            <div>
                <h1 data-testid="page-title">{view.title.clone()}</h1>
            </div>
            <div class="page-header__actions">
                {matches!(view.kind, RecordKind::Customer | RecordKind::Lead | RecordKind::Order)
                    .then(|| view! { <A href="/crm/import" attr:class="button button--ghost">"Import CSV"</A> })}
                <a class="button button--ghost" href=export rel="external" download>"Export CSV"</a>
                {view.new_href.clone().map(|h| view! { <A href=h attr:class="button button--primary" attr:data-testid="new-record">{format!("New {}", view.kind.label().to_lowercase())}</A> })}
            </div>
        </div>
        <nav class="chips" aria-label="Saved views">
            <A href=base.clone() attr:class="chip" exact=true>"All"</A>
            {view
                .saved_views
                .iter()
                .map(|s| {
                    let href = format!("{base}?{}", s.query);
                    let active = is_saved_view(&params, &s.query);
                    view! { <a class="chip" class:chip--active=active href=href>{s.label.clone()}</a> }
                })
                .collect_view()}
        </nav>
        <Form method="GET" action=base.clone() attr:class="toolbar">
            {view
                .search_hint
                .clone()
                .map(|hint| {
                    view! {
                        <label class="toolbar__search">
                            <span class="visually-hidden">"Search"</span>
                            <input id="list-search" type="search" name="q" value=current_q.clone() placeholder=format!("{hint}  ( / )") data-testid="list-search" />
                        </label>
                    }
                })}
            {view
                .filters
                .iter()
                .map(|f| {
                    let selected = query.get_untracked().get(&f.name).unwrap_or_default();
                    view! {
                        <label class="toolbar__filter">
                            <span class="toolbar__label">{f.label.clone()}</span>
                            <select name=f.name.clone() class="select--inline" onchange="this.form.requestSubmit()">
                                {f.options
                                    .iter()
                                    .map(|(v, l)| view! { <option value=v.clone() selected=*v == selected>{l.clone()}</option> })
                                    .collect_view()}
                            </select>
                        </label>
                    }
                })
                .collect_view()}
            {(!sort_for_form.is_empty()).then(|| view! { <input type="hidden" name="sort" value=sort_for_form.clone() /> })}
            <button class="button" type="submit">"Apply"</button>
        </Form>
        {if empty {
            view! {
                <EmptyState
                    title="Nothing matches"
                    body="No records match this search and these filters. Clear them to see everything."
                >
                    {filtered.then(|| view! { <A href=base_for_empty.clone() attr:class="button">"Clear search and filters"</A> })}
                </EmptyState>
            }
            .into_any()
        } else {
            view! {
                <div class="table-wrap" class:table-wrap--busy=move || refreshing.get() aria-busy=move || refreshing.get().to_string()>
                    <table class="table" data-testid="record-table" aria-label=title>
                        <thead>
                            <tr>
                                {view
                                    .columns
                                    .iter()
                                    .map(|c| {
                                        let label = c.label.clone();
                                        match c.sort.clone() {
                                            Some(s) => {
                                                let (next, arrow, aria) = if current_sort == s {
                                                    (format!("-{s}"), " ↑", "ascending")
                                                } else if current_sort == format!("-{s}") {
                                                    (s.clone(), " ↓", "descending")
                                                } else {
                                                    (s.clone(), "", "none")
                                                };
                                                let href = format!("{base}{}", with(&query.get_untracked(), &[("sort", &next), ("cursor", "")]));
                                                view! {
                                                    <th class:num=c.numeric aria-sort=aria>
                                                        <A href=href attr:class="th-sort">{label}{arrow}</A>
                                                    </th>
                                                }
                                                .into_any()
                                            }
                                            None => view! { <th class:num=c.numeric>{label}</th> }.into_any(),
                                        }
                                    })
                                    .collect_view()}
                            </tr>
                        </thead>
                        <tbody>
                            {view
                                .rows
                                .iter()
                                .map(|r| {
                                    let numeric = numeric.clone();
                                    view! {
                                        <tr data-id=r.id.to_string()>
                                            {r.cells
                                                .iter()
                                                .cloned()
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
            .into_any()
        }}
        <div class="pagination">
            <span class="muted">{format!("{} shown", view.rows.len())}</span>
            <div class="pagination__links">
                {has_cursor.then(|| view! { <A href=format!("{base}{}", with(&query.get_untracked(), &[("cursor", "")])) attr:class="button button--ghost">"← First page"</A> })}
                {view
                    .next_cursor
                    .clone()
                    .map(|c| {
                        let href = format!("{base}{}", with(&query.get_untracked(), &[("cursor", &c)]));
                        view! { <A href=href attr:class="button button--ghost" attr:data-testid="next-page">"Next page →"</A> }
                    })}
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> ParamsMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_list_link_escapes_like_the_browser() {
        let p = params(&[("q", "@mail.example"), ("status", "open,pending")]);
        assert_eq!(
            with(&p, &[("sort", "created_at"), ("cursor", "")]),
            "?q=%40mail.example&status=open%2Cpending&sort=created_at"
        );
        assert_eq!(escape("Zoë & co"), "Zo%C3%AB%20%26%20co");
    }

    #[test]
    fn empty_parameters_are_left_out_of_links() {
        assert_eq!(with(&params(&[("cursor", "abc")]), &[("cursor", "")]), "");
        let submitted = params(&[("q", "ann"), ("owner_id", ""), ("", "")]);
        assert_eq!(with(&submitted, &[("sort", "name")]), "?q=ann&sort=name");
    }

    #[test]
    fn a_saved_view_is_active_whatever_the_parameter_order() {
        let p = params(&[("sort", "-priority"), ("status", "open,pending")]);
        assert!(is_saved_view(&p, "status=open,pending&sort=-priority"));
        assert!(!is_saved_view(&p, "status=open,pending"));
        let submitted = params(&[("status", "open,pending"), ("owner_id", "")]);
        assert!(is_saved_view(&submitted, "status=open,pending"));
    }
}
