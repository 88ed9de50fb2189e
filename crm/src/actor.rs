//! Who is acting and what they may do. Every service call takes an [`Actor`] and checks it
//! here, so the rules hold for the UI, the REST API and system callers alike.

use crate::error::CrmError;
use domain::{Area, Need, Role};
use sqlx::PgConnection;
use uuid::Uuid;

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Scope {
    /// Read CRM records.
    #[serde(rename = "crm:read")]
    CrmRead,
    /// Create, update and delete CRM records (implies read).
    #[serde(rename = "crm:write")]
    CrmWrite,
}

impl Scope {
    /// Every scope, in the order the UI lists them.
    pub const ALL: [Scope; 2] = [Scope::CrmRead, Scope::CrmWrite];

    /// The wire name, e.g. `crm:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CrmRead => "crm:read",
            Scope::CrmWrite => "crm:write",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether a token holding this scope may `need` `area`; tokens reach only CRM records.
    pub fn grants(self, area: Area, need: Need) -> bool {
        matches!(
            (self, area, need),
            (Scope::CrmRead, Area::Crm, Need::Read) | (Scope::CrmWrite, Area::Crm, _)
        )
    }
}

/// The authenticated principal behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A signed-in person with a role in the workspace.
    User { id: Uuid, role: Role },
    /// A system caller with an API token.
    Token { id: Uuid, scopes: Vec<Scope> },
}

/// A principal acting in one workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub workspace_id: Uuid,
    pub principal: Principal,
}

impl Actor {
    /// A signed-in user.
    pub fn user(workspace_id: Uuid, user_id: Uuid, role: Role) -> Self {
        Actor {
            workspace_id,
            principal: Principal::User { id: user_id, role },
        }
    }

    /// The acting user, if a person is acting.
    pub fn user_id(&self) -> Option<Uuid> {
        match &self.principal {
            Principal::User { id, .. } => Some(*id),
            Principal::Token { .. } => None,
        }
    }

    /// The acting token, if a system caller is acting.
    pub fn token_id(&self) -> Option<Uuid> {
        match &self.principal {
            Principal::Token { id, .. } => Some(*id),
            Principal::User { .. } => None,
        }
    }

    /// The authorization table for this actor: a member by their role ([`Role::may`]), a token
    /// by its scopes ([`Scope::grants`]). Row-level rules stay in the services.
    pub fn authorize(&self, area: Area, need: Need) -> Result<(), CrmError> {
        match &self.principal {
            Principal::User { role, .. } => role
                .authorize(area, need)
                .map_err(|e| CrmError::Forbidden(e.to_string())),
            Principal::Token { scopes, .. } if scopes.iter().any(|s| s.grants(area, need)) => {
                Ok(())
            }
            Principal::Token { scopes, .. } => {
                let held: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
                let verb = match need {
                    Need::Read => "see",
                    Need::Change => "change",
                };
                Err(CrmError::Forbidden(format!(
                    "an API token with scopes [{}] may not {verb} {}",
                    held.join(", "),
                    area.label()
                )))
            }
        }
    }

    fn has_scope(&self, scope: Scope) -> bool {
        match &self.principal {
            Principal::Token { scopes, .. } => {
                scopes.contains(&scope)
                    || (scope == Scope::CrmRead && scopes.contains(&Scope::CrmWrite))
            }
            Principal::User { .. } => false,
        }
    }

    /// Workspace settings and API tokens: signed-in admins only, never a token. Returns the
    /// admin's user id; `refusal` is the message otherwise.
    pub fn require_admin(&self, refusal: &str) -> Result<Uuid, CrmError> {
        match self.principal {
            Principal::User {
                id,
                role: Role::Admin,
            } => Ok(id),
            _ => Err(CrmError::Forbidden(refusal.into())),
        }
    }

    /// Reading CRM records: every role (marketers read-only) and tokens with `crm:read`.
    pub fn check_read(&self) -> Result<(), CrmError> {
        match &self.principal {
            Principal::User { .. } => Ok(()),
            Principal::Token { .. } if self.has_scope(Scope::CrmRead) => Ok(()),
            Principal::Token { .. } => Err(CrmError::Forbidden(
                "this token lacks the crm:read scope".into(),
            )),
        }
    }

    /// Creating records: admins, managers, sales reps and tokens with `crm:write`.
    pub fn check_create(&self) -> Result<(), CrmError> {
        match &self.principal {
            Principal::User {
                role: Role::Marketer,
                ..
            } => Err(CrmError::Forbidden(
                "marketers have read-only access to the CRM".into(),
            )),
            Principal::User { .. } => Ok(()),
            Principal::Token { .. } if self.has_scope(Scope::CrmWrite) => Ok(()),
            Principal::Token { .. } => Err(CrmError::Forbidden(
                "this token lacks the crm:write scope".into(),
            )),
        }
    }

    /// Changing or deleting a record with the given owner. Sales reps edit only records they
    /// own while the workspace's `reps_edit_own_only` setting is on (the default).
    pub async fn check_edit(
        &self,
        conn: &mut PgConnection,
        owner_id: Option<Uuid>,
    ) -> Result<(), CrmError> {
        self.check_create()?;
        if let Principal::User {
            id,
            role: Role::SalesRep,
        } = &self.principal
        {
            if owner_id != Some(*id) && reps_edit_own_only(conn, self.workspace_id).await? {
                return Err(CrmError::Forbidden(
                    "sales reps can change only records they own; ask the owner or a manager"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// The owner a new record gets: the requested one (checked), else the acting user.
    pub fn owner_for_new(&self, requested: Option<Uuid>) -> Result<Option<Uuid>, CrmError> {
        match (&self.principal, requested) {
            (
                Principal::User {
                    id,
                    role: Role::SalesRep,
                },
                Some(r),
            ) if r != *id => Err(CrmError::field(
                "owner_id",
                "Sales reps create records for themselves; a manager can reassign them.",
            )),
            (Principal::User { id, .. }, None) => Ok(Some(*id)),
            (_, r) => Ok(r),
        }
    }

    /// Checks an owner change on update: only admins, managers and tokens reassign.
    pub fn check_owner_change(&self, old: Option<Uuid>, new: Option<Uuid>) -> Result<(), CrmError> {
        if old == new {
            return Ok(());
        }
        match &self.principal {
            Principal::User {
                role: Role::SalesRep,
                ..
            } => Err(CrmError::field(
                "owner_id",
                "Only managers and admins reassign records.",
            )),
            _ => Ok(()),
        }
    }
}

/// The workspace's rule for sales reps (on unless an admin turned it off).
pub async fn reps_edit_own_only(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<bool, CrmError> {
    let v: Option<bool> =
        sqlx::query_scalar("SELECT reps_edit_own_only FROM crm_settings WHERE workspace_id = $1")
            .bind(workspace_id)
            .fetch_optional(conn)
            .await?;
    Ok(v.unwrap_or(true))
}

/// Sets the workspace's rule for sales reps; admins only.
pub async fn set_reps_edit_own_only(
    conn: &mut PgConnection,
    actor: &Actor,
    value: bool,
) -> Result<(), CrmError> {
    actor.require_admin("only admins change CRM settings")?;
    sqlx::query(
        "INSERT INTO crm_settings (workspace_id, reps_edit_own_only) VALUES ($1, $2)
         ON CONFLICT (workspace_id) DO UPDATE SET reps_edit_own_only = EXCLUDED.reps_edit_own_only, updated_at = now()",
    )
    .bind(actor.workspace_id)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> Uuid {
        Uuid::from_u128(1)
    }

    #[test]
    fn marketers_read_but_do_not_write() {
        let m = Actor::user(ws(), Uuid::from_u128(2), Role::Marketer);
        assert!(m.check_read().is_ok());
        assert!(matches!(m.check_create(), Err(CrmError::Forbidden(_))));
    }

    #[test]
    fn write_tokens_also_read_and_read_tokens_do_not_write() {
        let w = Actor {
            workspace_id: ws(),
            principal: Principal::Token {
                id: Uuid::from_u128(3),
                scopes: vec![Scope::CrmWrite],
            },
        };
        assert!(w.check_read().is_ok() && w.check_create().is_ok());
        let r = Actor {
            workspace_id: ws(),
            principal: Principal::Token {
                id: Uuid::from_u128(3),
                scopes: vec![Scope::CrmRead],
            },
        };
        assert!(r.check_read().is_ok());
        assert!(r.check_create().is_err());
    }

    #[test]
    fn tokens_reach_only_crm_records_and_read_tokens_only_read_them() {
        let token = |scopes| Actor {
            workspace_id: ws(),
            principal: Principal::Token {
                id: Uuid::from_u128(7),
                scopes,
            },
        };
        let read = token(vec![Scope::CrmRead]);
        assert!(read.authorize(Area::Crm, Need::Read).is_ok());
        assert!(read.authorize(Area::Crm, Need::Change).is_err());
        let write = token(vec![Scope::CrmWrite]);
        assert!(write.authorize(Area::Crm, Need::Change).is_ok());
        for area in Area::ALL.into_iter().filter(|a| *a != Area::Crm) {
            assert!(write.authorize(area, Need::Read).is_err(), "{area:?}");
        }
    }

    #[test]
    fn reps_own_what_they_create_and_cannot_give_it_away() {
        let me = Uuid::from_u128(4);
        let rep = Actor::user(ws(), me, Role::SalesRep);
        assert_eq!(rep.owner_for_new(None).unwrap(), Some(me));
        assert!(rep.owner_for_new(Some(Uuid::from_u128(5))).is_err());
        assert!(rep
            .check_owner_change(Some(me), Some(Uuid::from_u128(5)))
            .is_err());
        let mgr = Actor::user(ws(), Uuid::from_u128(6), Role::Manager);
        assert!(mgr
            .check_owner_change(Some(me), Some(Uuid::from_u128(5)))
            .is_ok());
    }
}
