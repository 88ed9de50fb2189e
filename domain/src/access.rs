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

    /// The workbench sections this role sees in its navigation, in menu order: those holding an
    /// area it may read (drawn from [`Role::may`], the one authorization table).
    pub fn sections(self) -> Vec<Section> {
        Section::ALL
            .into_iter()
            .filter(|s| s.areas().iter().any(|a| self.may(*a, Need::Read)))
            .collect()
    }

    /// Whether this role may open a section's pages (the server checks each area too).
    pub fn can_open(self, section: Section) -> bool {
        section.areas().iter().any(|a| self.may(*a, Need::Read))
    }

    /// Whether this role administers users and roles of its workspace.
    pub fn can_manage_members(self) -> bool {
        self.may(Area::Users, Need::Change)
    }

    /// The authorization table: whether this role may read or change an area of its workspace.
    ///
    /// Every server function, API route and service checks this; the shell draws its menu from
    /// it. Row-level rules (a sales rep changes only records they own when the workspace says so,
    /// an alert is read by its owner or a manager) sit in the owning service on top of this.
    pub fn may(self, area: Area, need: Need) -> bool {
        use Area::*;
        use Role::*;
        let (read, change): (&[Role], &[Role]) = match area {
            Crm => (&[Admin, Manager, SalesRep], &[Admin, Manager, SalesRep]),
            Inbox => (&[Admin, Manager, SalesRep], &[Admin, Manager, SalesRep]),
            Profiles => (&[Admin, Manager, Marketer, SalesRep], &[]),
            Labels => (
                &[Admin, Manager, Marketer, SalesRep],
                &[Admin, Manager, Marketer],
            ),
            Segments | Journeys => (&[Admin, Manager, Marketer], &[Admin, Manager, Marketer]),
            Dashboards => (
                &[Admin, Manager, Marketer, SalesRep],
                &[Admin, Manager, Marketer],
            ),
            // Workspace administration: managers run everything else but not this.
            Sources | Quarantine | Integrations | Users | ApiTokens => (&[Admin], &[Admin]),
        };
        match need {
            Need::Read => read.contains(&self),
            Need::Change => change.contains(&self),
        }
    }

    /// `Ok` when [`Role::may`] allows it, else the refusal to show the person.
    pub fn authorize(self, area: Area, need: Need) -> Result<(), Refused> {
        if self.may(area, need) {
            Ok(())
        } else {
            Err(Refused {
                role: self,
                area,
                need,
            })
        }
    }
}

/// One part of a workspace that the authorization table grants by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Area {
    /// Customers, accounts, leads, deals, tasks, activities, products, orders; import and export.
    Crm,
    /// The sales inbox: alerts raised by trigger labels.
    Inbox,
    /// The 360 profiles and their timelines (derived, so nobody changes them directly).
    Profiles,
    /// Live label definitions, their counts and backtests.
    Labels,
    /// Audience segments.
    Segments,
    /// Journeys.
    Journeys,
    /// Dashboards and reports.
    Dashboards,
    /// Event sources, write keys, tracking plans and the live debugger.
    Sources,
    /// Events set aside by the gateway, and their replay.
    Quarantine,
    /// Third-party integrations of the Data Router.
    Integrations,
    /// Members and their roles.
    Users,
    /// API tokens and the CRM editing rule.
    ApiTokens,
}

impl Area {
    /// Every area, in the order the authorization table in `docs/ARCHITECTURE.md` lists them.
    pub const ALL: [Area; 12] = [
        Area::Crm,
        Area::Inbox,
        Area::Profiles,
        Area::Labels,
        Area::Segments,
        Area::Journeys,
        Area::Dashboards,
        Area::Sources,
        Area::Quarantine,
        Area::Integrations,
        Area::Users,
        Area::ApiTokens,
    ];

    /// What people call it in a refusal ("event sources").
    pub fn label(self) -> &'static str {
        match self {
            Area::Crm => "CRM records",
            Area::Inbox => "the sales inbox",
            Area::Profiles => "profiles",
            Area::Labels => "labels",
            Area::Segments => "segments",
            Area::Journeys => "journeys",
            Area::Dashboards => "dashboards",
            Area::Sources => "event sources",
            Area::Quarantine => "the quarantine",
            Area::Integrations => "integrations",
            Area::Users => "users and roles",
            Area::ApiTokens => "API tokens",
        }
    }
}

/// Whether a request looks or changes something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Need {
    Read,
    Change,
}

/// A role asked for an area it is not granted; the message names who is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", refusal_text(*.area, *.need))]
pub struct Refused {
    pub role: Role,
    pub area: Area,
    pub need: Need,
}

fn refusal_text(area: Area, need: Need) -> String {
    let who: Vec<&str> = Role::ALL
        .into_iter()
        .filter(|r| r.may(area, need))
        .map(|r| r.plural())
        .collect();
    let verb = match need {
        Need::Read => "see",
        Need::Change => "change",
    };
    match who.as_slice() {
        [] => format!("Nobody may {verb} {}.", area.label()),
        [one] => format!("Only {one} {verb} {}.", area.label()),
        [init @ .., last] => format!(
            "Only {} and {last} {verb} {}.",
            init.join(", "),
            area.label()
        ),
    }
}

impl Role {
    /// The role's people in a sentence ("managers").
    pub fn plural(self) -> &'static str {
        match self {
            Role::Admin => "admins",
            Role::Manager => "managers",
            Role::Marketer => "marketers",
            Role::SalesRep => "sales reps",
        }
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
    /// Every section, in menu order.
    pub const ALL: [Section; 6] = [
        Section::Dashboards,
        Section::Crm,
        Section::Profiles,
        Section::Segments,
        Section::Journeys,
        Section::Settings,
    ];

    /// The areas whose pages live under this section; a role sees the section when it may read
    /// any of them.
    pub fn areas(self) -> &'static [Area] {
        match self {
            Section::Dashboards => &[Area::Dashboards],
            Section::Crm => &[Area::Crm, Area::Inbox],
            Section::Profiles => &[Area::Profiles, Area::Labels],
            Section::Segments => &[Area::Segments],
            Section::Journeys => &[Area::Journeys],
            Section::Settings => &[
                Area::Sources,
                Area::Quarantine,
                Area::Integrations,
                Area::Users,
                Area::ApiTokens,
            ],
        }
    }

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
    fn refusals_name_who_may() {
        let e = Role::Manager
            .authorize(Area::Sources, Need::Change)
            .unwrap_err();
        assert_eq!(e.to_string(), "Only admins change event sources.");
        let e = Role::SalesRep
            .authorize(Area::Labels, Need::Change)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Only admins, managers and marketers change labels."
        );
    }

    #[test]
    fn whoever_may_change_an_area_may_read_it() {
        for role in Role::ALL {
            for area in Area::ALL {
                if role.may(area, Need::Change) {
                    assert!(role.may(area, Need::Read), "{role} {area:?}");
                }
            }
        }
    }

    #[test]
    fn paths_map_back_to_their_section() {
        for s in Role::Admin.sections() {
            assert_eq!(Section::of_path(s.path()), Some(s));
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
