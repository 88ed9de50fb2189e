//! Settings → Sources: event sources with their write keys, tracking plans, consent policies,
//! volume charts and the live event debugger; and the quarantine, grouped by reason, with
//! replay into `events.raw`.

mod debugger;
mod list;
mod plan;
mod quarantine;
mod source;
mod volume;

pub use list::SourcesPage;
pub use quarantine::QuarantinePage;
pub use source::SourcePage;

#[cfg(feature = "ssr")]
mod server {
    use crate::error::set_status as status;
    use crate::UiError;
    use axum::http::StatusCode;

    pub fn source_err(e: gateway::sources::SourceError) -> UiError {
        use gateway::sources::SourceError as E;
        match e {
            E::Invalid(m) => {
                status(StatusCode::UNPROCESSABLE_ENTITY);
                let mut f = domain::FieldErrors::default();
                f.add("name", m);
                UiError::Invalid(f)
            }
            E::Fields(f) => {
                status(StatusCode::UNPROCESSABLE_ENTITY);
                UiError::Invalid(f)
            }
            E::NotFound => {
                status(StatusCode::NOT_FOUND);
                UiError::NotFound("That source does not exist in this workspace.".into())
            }
            E::Database(e) => crate::session::internal(&format!("sources: {e}")),
        }
    }

    pub fn quarantine_err(e: gateway::quarantine::QuarantineError) -> UiError {
        use gateway::quarantine::QuarantineError as E;
        match e {
            E::Invalid(m) => {
                status(StatusCode::UNPROCESSABLE_ENTITY);
                UiError::Request(m)
            }
            E::Source(e) => source_err(e),
            E::Bus(e) => {
                status(StatusCode::SERVICE_UNAVAILABLE);
                UiError::Request(format!(
                    "The event bus did not take the events ({e}); nothing was replayed. Try again."
                ))
            }
            E::Database(e) => crate::session::internal(&format!("quarantine: {e}")),
        }
    }
}

/// `1234567` → `1,234,567`.
fn fmt_count(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}
