//! Settings → API access: API tokens for system callers and the CRM editing rule.

use crate::components::ui::{ErrorNotice, FieldError, LoadError, Loading, LocalTime};
use crate::UiError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A token as the page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

/// The tokens and the CRM rule of the workspace (admins only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiAccessView {
    pub tokens: Vec<TokenRow>,
    pub reps_edit_own_only: bool,
    /// The calling code phones written without one take (`+1`, `+44`).
    pub phone_country: String,
}

#[cfg(feature = "ssr")]
use crate::components::ui::rfc3339;

/// Lists API tokens.
#[server(endpoint = "api_access")]
pub async fn api_access() -> Result<ApiAccessView, UiError> {
    let m = crate::session::require(domain::Area::ApiTokens, domain::Need::Read).await?;
    let (actor, ctx) = (m.actor(), m.ctx);
    let mut c = ctx.pool.acquire().await.map_err(crm::CrmError::from)?;
    let tokens = crm::tokens::list(&mut c, &actor).await?;
    let reps_edit_own_only = crm::actor::reps_edit_own_only(&mut c, actor.workspace_id).await?;
    let phone_country = crm::settings::phone_country(&mut c, actor.workspace_id)
        .await
        .map_err(crm::CrmError::from)?;
    Ok(ApiAccessView {
        tokens: tokens
            .into_iter()
            .map(|t| TokenRow {
                id: t.id,
                name: t.name,
                prefix: t.prefix,
                scopes: t.scopes,
                created_at: rfc3339(t.created_at),
                last_used_at: t.last_used_at.map(rfc3339),
                revoked: t.revoked_at.is_some(),
            })
            .collect(),
        reps_edit_own_only,
        phone_country: phone_country.to_string(),
    })
}

/// Issues a token; the secret is returned once.
#[server(endpoint = "issue_token")]
pub async fn issue_token(name: String, write: bool) -> Result<String, UiError> {
    let m = crate::session::require(domain::Area::ApiTokens, domain::Need::Change).await?;
    let (actor, ctx) = (m.actor(), m.ctx);
    let mut c = ctx.pool.acquire().await.map_err(crm::CrmError::from)?;
    let scope = if write { "crm:write" } else { "crm:read" };
    Ok(
        crm::tokens::issue(&mut c, &actor, &name, &[scope.to_string()])
            .await?
            .secret,
    )
}

/// Revokes a token.
#[server(endpoint = "revoke_token")]
pub async fn revoke_token(id: Uuid) -> Result<(), UiError> {
    let m = crate::session::require(domain::Area::ApiTokens, domain::Need::Change).await?;
    let (actor, ctx) = (m.actor(), m.ctx);
    let mut c = ctx.pool.acquire().await.map_err(crm::CrmError::from)?;
    Ok(crm::tokens::revoke(&mut c, &actor, id).await?)
}

/// Turns the "sales reps edit only their own records" rule on or off.
#[server(endpoint = "set_reps_rule")]
pub async fn set_reps_rule(own_only: bool) -> Result<(), UiError> {
    let m = crate::session::require(domain::Area::ApiTokens, domain::Need::Change).await?;
    let (actor, ctx) = (m.actor(), m.ctx);
    let mut c = ctx.pool.acquire().await.map_err(crm::CrmError::from)?;
    Ok(crm::actor::set_reps_edit_own_only(&mut c, &actor, own_only).await?)
}

/// Sets the calling code the workspace's phones take when written without one (`44` or
/// `+44`); phones already stored keep their form.
#[server(endpoint = "set_phone_country")]
pub async fn set_phone_country(code: String) -> Result<(), UiError> {
    let m = crate::session::require(domain::Area::ApiTokens, domain::Need::Change).await?;
    let code: domain::phone::CallingCode = code.parse().map_err(|_| {
        let mut errors = domain::FieldErrors::default();
        errors.add(
            "code",
            "Enter a calling code of 1 to 3 digits, such as 44 or +49.",
        );
        UiError::Invalid(errors)
    })?;
    let (actor, ctx) = (m.actor(), m.ctx);
    let mut c = ctx.pool.acquire().await.map_err(crm::CrmError::from)?;
    Ok(crm::settings::set_phone_country(&mut c, &actor, code).await?)
}

/// The API access page.
#[component]
pub fn ApiAccessPage() -> impl IntoView {
    let issue = ServerAction::<IssueToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let rule = ServerAction::<SetRepsRule>::new();
    let country = ServerAction::<SetPhoneCountry>::new();
    let data = Resource::new(
        move || {
            (
                issue.version().get(),
                revoke.version().get(),
                rule.version().get(),
                country.version().get(),
            )
        },
        |_| api_access(),
    );
    let error = Signal::derive(move || {
        issue
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| revoke.value().get().and_then(|r| r.err()))
            .or_else(|| rule.value().get().and_then(|r| r.err()))
            .or_else(|| country.value().get().and_then(|r| r.err()))
    });
    let secret = Signal::derive(move || issue.value().get().and_then(|r| r.ok()));
    view! {
        <Title text="API access" />
        <div class="page-header">
            <div>
                <nav class="breadcrumbs"><A href="/settings">"Settings"</A>" / "</nav>
                <h1 data-testid="page-title">"API access"</h1>
                <p class="muted">"Tokens for systems that call the REST API ("<a href="/api/docs" rel="external">"reference"</a>"), and who may edit CRM records."</p>
            </div>
        </div>
        <ErrorNotice error=error />
        {move || secret.get().map(|s| view! {
            <div class="notice notice--success" role="status" data-testid="token-secret">
                "Copy this token now; it is not shown again: "<code>{s}</code>
            </div>
        })}
        <section class="panel">
            <h2>"New token"</h2>
            <ActionForm action=issue attr:class="form form--grid">
                <label class="field">
                    <span class="field__label">"Name (the system that uses it)"</span>
                    <input name="name" required maxlength="100" placeholder="Warehouse export" />
                    <FieldError error name="name" />
                </label>
                <label class="field">
                    <span class="field__label">"Access"</span>
                    <select name="write">
                        <option value="false">"Read CRM records (crm:read)"</option>
                        <option value="true">"Read and write CRM records (crm:write)"</option>
                    </select>
                </label>
                <div class="form__actions"><button class="button button--primary" type="submit">"Create token"</button></div>
            </ActionForm>
        </section>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                    Ok(a) => view! {
                        <section class="panel">
                            <h2>"Tokens"</h2>
                            {if a.tokens.is_empty() {
                                view! { <p class="muted">"No tokens yet."</p> }.into_any()
                            } else {
                                view! {
                                    <div class="table-wrap">
                                        <table class="table" data-testid="tokens-table">
                                            <thead><tr><th>"Name"</th><th>"Token"</th><th>"Scopes"</th><th>"Created"</th><th>"Last used"</th><th></th></tr></thead>
                                            <tbody>
                                                {a.tokens.into_iter().map(|t| {
                                                    let id = t.id;
                                                    view! {
                                                        <tr class:row--inactive=t.revoked>
                                                            <td>{t.name}</td>
                                                            <td><code>{format!("{}…", t.prefix)}</code></td>
                                                            <td>{t.scopes.join(", ")}</td>
                                                            <td><LocalTime utc=t.created_at /></td>
                                                            <td>{match t.last_used_at { Some(u) => view! { <LocalTime utc=u /> }.into_any(), None => view! { <span class="muted">"Never"</span> }.into_any() }}</td>
                                                            <td class="table__actions">
                                                                {if t.revoked {
                                                                    view! { <span class="status status--inactive">"Revoked"</span> }.into_any()
                                                                } else {
                                                                    view! { <button class="button button--ghost button--small" on:click=move |_| { revoke.dispatch(RevokeToken { id }); }>"Revoke"</button> }.into_any()
                                                                }}
                                                            </td>
                                                        </tr>
                                                    }
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    </div>
                                }
                                .into_any()
                            }}
                        </section>
                        <section class="panel">
                            <h2>"CRM editing"</h2>
                            <label class="check">
                                <input type="checkbox" prop:checked=a.reps_edit_own_only on:change=move |ev| { rule.dispatch(SetRepsRule { own_only: event_target_checked(&ev) }); } />
                                " Sales reps change only the records they own (managers and admins change everything)"
                            </label>
                            <ActionForm action=country attr:class="form form--inline">
                                <label class="field">
                                    <span class="field__label">"Calling code for phone numbers written without one"</span>
                                    <input name="code" required maxlength="4" inputmode="numeric" value=a.phone_country.clone() data-testid="phone-country" />
                                    <span class="field__hint">"Applies to phones typed, imported or sent by events from now on; stored phones keep their form."</span>
                                    <FieldError error name="code" />
                                </label>
                                <button class="button" type="submit">"Save"</button>
                            </ActionForm>
                        </section>
                    }
                    .into_any(),
                }
            })}
        </Transition>
    }
}
