//! Sign-in and first-run setup.

use crate::components::ui::{ErrorNotice, FieldError};
use crate::UiError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// One demo account shown on the sign-in page in demo mode.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DemoAccount {
    pub email: String,
    pub role: String,
    pub password: String,
}

/// Signs in with email and password and continues to `next` (a local path).
#[server(endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), UiError> {
    use crate::session;
    let ctx = session::server_context()?;
    let ip = leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .await
        .ok()
        .map(|c| c.0.ip().to_string());
    let signed = access::authenticate(
        &ctx.pool,
        &ctx.login_policy,
        &email,
        &password,
        ip.as_deref(),
    )
    .await?;
    let s = session::session().await?;
    session::sign_in(&s, signed.user_id, signed.workspace_id).await?;
    leptos_axum::redirect(session::safe_next(next.as_deref().unwrap_or("/")));
    Ok(())
}

/// The demo accounts, when the server runs in demo mode (empty otherwise).
#[server(endpoint = "demo_accounts")]
pub async fn demo_accounts() -> Result<Vec<DemoAccount>, UiError> {
    let ctx = crate::session::server_context()?;
    if !ctx.demo {
        return Ok(vec![]);
    }
    Ok(access::demo_logins()
        .into_iter()
        .map(|d| DemoAccount {
            email: d.email.into(),
            role: d.role.label().into(),
            password: access::DEMO_PASSWORD.into(),
        })
        .collect())
}

/// Creates the first workspace and its admin, then signs the admin in. Only works once.
#[server(endpoint = "setup")]
pub async fn setup(
    workspace_name: String,
    name: String,
    email: String,
    password: String,
    password_confirm: String,
) -> Result<(), UiError> {
    use crate::session;
    if password != password_confirm {
        let mut f = domain::FieldErrors::default();
        f.add("password_confirm", "The passwords do not match.");
        return Err(UiError::Invalid(f));
    }
    let ctx = session::server_context()?;
    let input = access::BootstrapAdmin {
        workspace_name,
        name,
        email: email.clone(),
        password: password.clone(),
    };
    access::bootstrap_admin(&ctx.pool, &input).await?;
    let signed =
        access::authenticate(&ctx.pool, &ctx.login_policy, &email, &password, None).await?;
    let s = session::session().await?;
    session::sign_in(&s, signed.user_id, signed.workspace_id).await?;
    leptos_axum::redirect("/");
    Ok(())
}

/// The sign-in page.
#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<Login>::new();
    let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next")).unwrap_or_else(|| "/".into());
    let demo = Resource::new(|| (), |_| demo_accounts());
    view! {
        <Title text="Sign in" />
        <div class="auth">
            <div class="auth__card">
                <div class="auth__brand">
                    <span class="brand__mark" aria-hidden="true"></span>
                    <span>"Pulse"</span>
                </div>
                <h1>"Sign in to your workspace"</h1>
                <ActionForm action=action attr:class="form" attr:data-testid="login-form">
                    <input type="hidden" name="next" value=next />
                    <ErrorNotice error=error />
                    <label class="field">
                        <span class="field__label">"Email"</span>
                        <input type="email" name="email" autocomplete="username" required autofocus />
                        <FieldError error=error name="email" />
                    </label>
                    <label class="field">
                        <span class="field__label">"Password"</span>
                        <input type="password" name="password" autocomplete="current-password" required />
                        <FieldError error=error name="password" />
                    </label>
                    <button class="button button--primary button--block" type="submit" disabled=move || action.pending().get()>
                        {move || if action.pending().get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </ActionForm>
            </div>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let accounts = demo.await.unwrap_or_default();
                    (!accounts.is_empty())
                        .then(|| {
                            view! {
                                <div class="auth__demo" data-testid="demo-accounts">
                                    <h2>"Demo accounts"</h2>
                                    <p class="muted">{format!("Password for all: {}", accounts[0].password)}</p>
                                    <table class="table table--compact">
                                        <tbody>
                                            {accounts
                                                .into_iter()
                                                .map(|a| view! { <tr><td>{a.role}</td><td><code>{a.email}</code></td></tr> })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }
                        })
                })}
            </Suspense>
        </div>
    }
}

/// First-run page: create the workspace and its first admin.
#[component]
pub fn SetupPage() -> impl IntoView {
    let action = ServerAction::<Setup>::new();
    let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
    view! {
        <Title text="Set up Pulse" />
        <div class="auth">
            <div class="auth__card auth__card--wide">
                <div class="auth__brand">
                    <span class="brand__mark" aria-hidden="true"></span>
                    <span>"Pulse"</span>
                </div>
                <h1>"Welcome to Pulse"</h1>
                <p class="muted">"Create your workspace and the first admin account. You can invite your team afterwards."</p>
                <ActionForm action=action attr:class="form">
                    <ErrorNotice error=error />
                    <label class="field">
                        <span class="field__label">"Workspace name"</span>
                        <input name="workspace_name" placeholder="Acme Inc." required />
                        <FieldError error=error name="workspace_name" />
                    </label>
                    <label class="field">
                        <span class="field__label">"Your name"</span>
                        <input name="name" autocomplete="name" required />
                        <FieldError error=error name="name" />
                    </label>
                    <label class="field">
                        <span class="field__label">"Email"</span>
                        <input type="email" name="email" autocomplete="username" required />
                        <FieldError error=error name="email" />
                    </label>
                    <div class="form__row">
                        <label class="field">
                            <span class="field__label">"Password"</span>
                            <input type="password" name="password" autocomplete="new-password" required minlength=domain::validation::MIN_PASSWORD_LEN />
                            <FieldError error=error name="password" />
                        </label>
                        <label class="field">
                            <span class="field__label">"Repeat password"</span>
                            <input type="password" name="password_confirm" autocomplete="new-password" required />
                            <FieldError error=error name="password_confirm" />
                        </label>
                    </div>
                    <button class="button button--primary button--block" type="submit" disabled=move || action.pending().get()>
                        {move || if action.pending().get() { "Creating…" } else { "Create workspace" }}
                    </button>
                </ActionForm>
            </div>
        </div>
    }
}
