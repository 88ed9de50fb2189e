//! The HTTP edge: the Leptos app and its server functions, static assets, operations
//! endpoints, and the middleware every request passes (request id, tracing, metrics, sessions,
//! cross-site request checks, the sign-in gate).

pub mod api;
mod credentials;
mod guard;
pub mod ingest;
mod live;
mod ops;
pub mod webhooks;

use app::ServerContext;
use axum::extract::FromRef;
use axum::http::{header, HeaderValue, Request};
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

/// Shared state of the HTTP layer.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub pool: PgPool,
    pub ctx: ServerContext,
    pub metrics: PrometheusHandle,
    /// Set once any user exists; until then every page leads to the first-run page.
    pub set_up: Arc<AtomicBool>,
    /// The event bus (embedded Postgres log, or Kafka by configuration).
    pub bus: Arc<dyn bus::Bus>,
    /// The gateway's runtime state (key cache, rate limits, counters, live feed).
    pub gateway: Arc<crate::gateway_runtime::EventGateway>,
}

/// Session cookie settings.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub secure: bool,
    pub idle_hours: i64,
}

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "pulse_session";

/// Builds the whole router: app pages, server functions, assets, ops endpoints, middleware.
pub fn router(state: AppState, store: PostgresStore, session: &SessionSettings) -> Router {
    let options = state.leptos_options.clone();
    let routes = generate_route_list(app::App);
    let ctx = state.ctx.clone();
    let pkg_dir = Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());

    let sessions = SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(session.secure)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::hours(session.idle_hours),
        ));

    let assets = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        ))
        .service(ServeDir::new(pkg_dir).precompressed_gzip());

    let app_routes = Router::new()
        .leptos_routes_with_context(&state, routes, move || provide_context(ctx.clone()), {
            let options = options.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::sign_in_gate,
        ))
        .layer(axum::middleware::from_fn(guard::reject_cross_site))
        .layer(sessions.clone());

    let api = Router::new()
        .nest("/api/v1", api::routes())
        .merge(api::doc_routes())
        .route("/api/sources/{id}/live", get(live::live))
        .layer(axum::middleware::from_fn(guard::reject_cross_site))
        .layer(sessions.clone());

    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .nest_service("/pkg", assets)
        .merge(ingest::routes())
        .merge(webhooks::routes())
        .merge(api)
        .merge(app_routes)
        .layer(axum::middleware::from_fn(ops::record_metrics))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
                }))
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
        .with_state(state)
}
