//! Request guards: cross-site request rejection and the sign-in gate for pages.

use super::AppState;
use app::session::USER_KEY;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::atomic::Ordering;
use tower_sessions::Session;
use uuid::Uuid;

/// Refuses state-changing requests that a browser marks as coming from another site.
///
/// Together with `SameSite=Lax` session cookies this is the CSRF defence: browsers send
/// `Sec-Fetch-Site` and `Origin` on cross-site POSTs, and no legitimate form of ours is
/// submitted from another origin.
pub async fn reject_cross_site(req: Request, next: Next) -> Response {
    if is_safe_method(req.method()) || same_site(req.headers()) {
        next.run(req).await
    } else {
        (
            StatusCode::FORBIDDEN,
            "Cross-site request refused: submit the form from Pulse itself.",
        )
            .into_response()
    }
}

fn is_safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// True unless the headers prove the request came from another origin.
fn same_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin = origin.to_str().unwrap_or("");
            let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
            origin != "null" && origin_host.eq_ignore_ascii_case(host.to_str().unwrap_or(""))
        }
        (Some(_), None) => false,
        _ => true,
    }
}

/// Sends people who are not signed in to the sign-in page, and everyone to first-run setup
/// until the first admin exists. Server functions and assets pass; they check for themselves.
pub async fn sign_in_gate(
    State(state): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    if !is_safe_method(req.method())
        || path.starts_with("/api/")
        || path.starts_with("/pkg/")
        || path.contains('.')
    {
        return next.run(req).await;
    }
    if !state.set_up.load(Ordering::Relaxed) {
        match access::has_users(&state.pool).await {
            Ok(true) => state.set_up.store(true, Ordering::Relaxed),
            Ok(false) if path == "/setup" => return next.run(req).await,
            Ok(false) => return Redirect::to("/setup").into_response(),
            Err(e) => {
                tracing::error!(error = %e, "checking for users failed");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Pulse cannot reach its database.",
                )
                    .into_response();
            }
        }
    }
    let signed_in = session.get::<Uuid>(USER_KEY).await.ok().flatten().is_some();
    match path.as_str() {
        "/setup" => Redirect::to(if signed_in { "/" } else { "/login" }).into_response(),
        "/login" if signed_in => Redirect::to("/").into_response(),
        "/login" => next.run(req).await,
        _ if signed_in => next.run(req).await,
        _ => {
            let target = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            Redirect::to(&format!("/login?next={}", encode_component(target))).into_response()
        }
    }
}

/// Percent-encodes a URL component (RFC 3986 unreserved characters pass).
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_posts_pass() {
        assert!(same_site(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000"),
            ("sec-fetch-site", "same-origin")
        ])));
        // Non-browser clients send neither header.
        assert!(same_site(&headers(&[("host", "127.0.0.1:3000")])));
    }

    #[test]
    fn cross_site_posts_are_refused() {
        assert!(!same_site(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_site(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(!same_site(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "null")
        ])));
        assert!(!same_site(&headers(&[
            ("host", "pulse.example"),
            ("origin", "https://pulse.example.evil.example")
        ])));
    }

    #[test]
    fn next_parameter_is_percent_encoded() {
        assert_eq!(
            encode_component("/settings/users?page=2"),
            "%2Fsettings%2Fusers%3Fpage%3D2"
        );
    }
}
