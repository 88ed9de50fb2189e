//! Small UI pieces: empty states, notices, field errors, local times.

use crate::UiError;
use leptos::prelude::*;

/// A timestamp as RFC 3339 text, the form [`LocalTime`] takes.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A friendly placeholder for a view with nothing to show yet, saying what will appear and why.
#[component]
pub fn EmptyState(
    /// Headline.
    title: &'static str,
    /// One or two sentences on what will appear here and what makes it appear.
    body: &'static str,
    /// Optional list of what the area will offer.
    #[prop(optional)]
    upcoming: &'static [&'static str],
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="empty-state">
            <div class="empty-state__icon" aria-hidden="true"></div>
            <h2>{title}</h2>
            <p>{body}</p>
            {(!upcoming.is_empty())
                .then(|| {
                    view! {
                        <ul class="empty-state__list">
                            {upcoming.iter().map(|u| view! { <li>{*u}</li> }).collect_view()}
                        </ul>
                    }
                })}
            {children.map(|c| c())}
        </div>
    }
}

/// A banner for an error that is not about one field.
#[component]
pub fn ErrorNotice(#[prop(into)] error: Signal<Option<UiError>>) -> impl IntoView {
    move || {
        error
            .get()
            .filter(|e| !matches!(e, UiError::Invalid(_)))
            .map(|e| {
                view! {
                    <div class="notice notice--error" role="alert">
                        {e.to_string()}
                    </div>
                }
            })
    }
}

/// What a page shows in place of data that could not be loaded.
#[component]
pub fn LoadError(error: UiError) -> impl IntoView {
    view! { <div class="notice notice--error" role="alert">{error.to_string()}</div> }
}

/// The placeholder while a page's data loads.
#[component]
pub fn Loading() -> impl IntoView {
    view! { <div class="loading" aria-busy="true">"Loading…"</div> }
}

/// The inline message under a form field.
#[component]
pub fn FieldError(
    #[prop(into)] error: Signal<Option<UiError>>,
    name: &'static str,
) -> impl IntoView {
    move || {
        error.get().and_then(|e| e.field(name)).map(|m| {
            view! {
                <p class="field__error" role="alert">
                    {m}
                </p>
            }
        })
    }
}

/// A UTC timestamp shown in the viewer's own time zone once the page is interactive.
///
/// The server does not know the viewer's zone, so it renders UTC; after hydration the browser
/// rewrites the text in local time.
#[component]
pub fn LocalTime(#[prop(into)] utc: String) -> impl IntoView {
    let server_text = utc_text(&utc);
    let text = RwSignal::new(server_text);
    #[cfg(feature = "hydrate")]
    {
        let utc = utc.clone();
        Effect::new(move |_| {
            let date = js_sys::Date::new(&utc.as_str().into());
            if !date.get_time().is_nan() {
                // "25 Nov 2026, 10:04": medium date, short time, in the viewer's zone.
                let options = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&options, &"dateStyle".into(), &"medium".into());
                let _ = js_sys::Reflect::set(&options, &"timeStyle".into(), &"short".into());
                let local: String = date.to_locale_string("default", &options.into()).into();
                text.set(local);
            }
        });
    }
    view! { <time datetime=utc.clone()>{move || text.get()}</time> }
}

/// `2026-11-25T10:04:05.123Z` → `2026-11-25 10:04 UTC`.
fn utc_text(utc: &str) -> String {
    match (utc.get(..10), utc.get(11..16)) {
        (Some(d), Some(t)) => format!("{d} {t} UTC"),
        _ => utc.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::utc_text;

    #[test]
    fn utc_timestamps_render_to_the_minute() {
        assert_eq!(utc_text("2026-11-25T10:04:05.123Z"), "2026-11-25 10:04 UTC");
        assert_eq!(utc_text("garbage"), "garbage");
    }
}
