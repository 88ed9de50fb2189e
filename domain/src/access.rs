//! Who may see and do what: roles, workbench sections and the signed-in viewer.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// A member's role inside one workspace; a user can hold different roles in different workspaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including users, sources and settings.
    Admin,
    /// Everything in the workspace except its administration.
    Manager,
    /// Audience tools: profiles, segments, journeys, dashboards.
    Marketer,
    /// The CRM workbench for the records they own.
    SalesRep,
}

impl Role {
    /// Every role, in the order the UI lists them.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Manager, Role::Marketer, Role::SalesRep];

    /// The stable identifier stored in Postgres and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Marketer => "marketer",
            Role::SalesRep => "sales_rep",
        }
    }

    /// The name people read in the UI.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::Manager => "Manager",
            Role::Marketer => "Marketer",
            Role::SalesRep => "Sales rep",
        }
    }

    /// The workbench sections this role sees in its navigation, in menu order.
    pub fn sections(self) -> &'static [Section] {
        use Section::*;
        match self {
            Role::Admin => &[Dashboards, Crm, Profiles, Segments, Journeys, Settings],
            Role::Manager => &[Dashboards, Crm, Profiles, Segments, Journeys],
            Role::Marketer => &[Dashboards, Profiles, Segments, Journeys],
            Role::SalesRep => &[Dashboards, Crm, Profiles],
        }
    }

    /// Whether this role may open a section (the server checks this too, not only the menu).
    pub fn can_open(self, section: Section) -> bool {
        self.sections().contains(&section)
    }

    /// Whether this role administers users and roles of its workspace.
    pub fn can_manage_members(self) -> bool {
        self == Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of the known role identifiers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`; expected one of admin, manager, marketer, sales_rep")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// A top-level area of the workbench, one entry in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Section {
    Dashboards,
    Crm,
    Profiles,
    Segments,
    Journeys,
    Settings,
}

impl Section {
    /// The URL path of the section's landing page.
    pub fn path(self) -> &'static str {
        match self {
            Section::Dashboards => "/",
            Section::Crm => "/crm",
            Section::Profiles => "/profiles",
            Section::Segments => "/segments",
            Section::Journeys => "/journeys",
            Section::Settings => "/settings",
        }
    }

    /// The menu label.
    pub fn label(self) -> &'static str {
        match self {
            Section::Dashboards => "Dashboards",
            Section::Crm => "CRM",
            Section::Profiles => "Profiles",
            Section::Segments => "Segments",
            Section::Journeys => "Journeys",
            Section::Settings => "Settings",
        }
    }

    /// The section a request path belongs to, if any.
    pub fn of_path(path: &str) -> Option<Section> {
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        match first {
            "" => Some(Section::Dashboards),
            "crm" => Some(Section::Crm),
            "profiles" => Some(Section::Profiles),
            "segments" => Some(Section::Segments),
            "journeys" => Some(Section::Journeys),
            "settings" => Some(Section::Settings),
            _ => None,
        }
    }
}

/// A workspace as the UI lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceSummary {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
}

/// The signed-in person, the workspace they are working in and their role there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub workspace: WorkspaceSummary,
    pub role: Role,
    /// Every workspace this person is an active member of, for the switcher.
    pub workspaces: Vec<WorkspaceSummary>,
}

impl Viewer {
    /// Initials for the avatar in the top bar.
    pub fn initials(&self) -> String {
        let mut out: String = self
            .name
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .take(2)
            .collect();
        if out.is_empty() {
            out = self.email.chars().take(1).collect();
        }
        out.to_uppercase()
    }
}

/// One member of a workspace as the users & roles page shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSummary {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    /// RFC 3339 UTC timestamp of the last successful sign-in, if any.
    pub last_login_at: Option<String>,
    /// RFC 3339 UTC timestamp of when the membership was created.
    pub joined_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_round_trips_through_its_identifier() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn only_admins_see_settings_and_manage_members() {
        for role in Role::ALL {
            assert_eq!(role.can_open(Section::Settings), role == Role::Admin);
            assert_eq!(role.can_manage_members(), role == Role::Admin);
        }
    }

    #[test]
    fn sales_reps_do_not_see_audience_tools_and_marketers_do_not_see_crm() {
        assert!(!Role::SalesRep.can_open(Section::Segments));
        assert!(!Role::SalesRep.can_open(Section::Journeys));
        assert!(Role::SalesRep.can_open(Section::Crm));
        assert!(!Role::Marketer.can_open(Section::Crm));
        assert!(Role::Marketer.can_open(Section::Segments));
    }

    #[test]
    fn every_role_sees_dashboards_first() {
        for role in Role::ALL {
            assert_eq!(role.sections()[0], Section::Dashboards);
        }
    }

    #[test]
    fn paths_map_back_to_their_section() {
        for s in Role::Admin.sections() {
            assert_eq!(Section::of_path(s.path()), Some(*s));
        }
        assert_eq!(Section::of_path("/settings/users"), Some(Section::Settings));
        assert_eq!(Section::of_path("/login"), None);
    }

    #[test]
    fn initials_use_first_two_words_or_email() {
        let mut v = Viewer {
            user_id: Uuid::nil(),
            email: "zoe@example.com".into(),
            name: "ada lovelace byron".into(),
            workspace: WorkspaceSummary {
                id: Uuid::nil(),
                name: "W".into(),
                slug: "w".into(),
            },
            role: Role::Admin,
            workspaces: vec![],
        };
        assert_eq!(v.initials(), "AL");
        v.name.clear();
        assert_eq!(v.initials(), "Z");
    }
}
