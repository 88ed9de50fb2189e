//! CRM records shared by the workbench, the REST API and the services: accounts, customers,
//! leads, orders, contracts, loyalty memberships, tickets and sales activities.
//!
//! Each record has a read type (what the API returns) and an input type (what create and
//! update accept). Inputs validate themselves with [`FieldErrors`] so a browser form and the
//! server reject the same things with the same words. Money is integer minor units.

pub use crate::money::{currency_exponent, format_money};
use crate::names;
use crate::phone::{self, CallingCode};
use crate::validation::{check_email, normalize_email, FieldErrors};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

/// Serde for `Option<Date>` as `YYYY-MM-DD` or null.
pub mod iso_date_opt {
    use super::iso_date;
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    /// Writes `YYYY-MM-DD` or null.
    pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => iso_date::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    /// Reads `YYYY-MM-DD`, null or a missing field.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "iso_date")] Date);
        Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
    }
}

/// Declares a CRM record type: its own fields, then what every record carries (the
/// optimistic-concurrency version, creation and update times, the trash mark), with the
/// derives every record has.
macro_rules! crm_record {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* pub $f:ident: $t:ty,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)+
            pub version: i32,
            #[serde(with = "time::serde::rfc3339")]
            pub created_at: OffsetDateTime,
            #[serde(with = "time::serde::rfc3339")]
            pub updated_at: OffsetDateTime,
            #[serde(with = "time::serde::rfc3339::option", default)]
            pub deleted_at: Option<OffsetDateTime>,
        }
    };
}

/// A CRM enum stored and sent as text: its values in UI order, its stored text and its label.
pub trait TextEnum: Copy + Send + Sync + 'static {
    /// Every value, in the order the UI lists them.
    const ALL: &'static [Self];
    /// The stable identifier stored in Postgres and used on the wire.
    fn as_str(self) -> &'static str;
    /// The name people read in the UI.
    fn label(self) -> &'static str;
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal, $label:literal;)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(type_name = "text", rename_all = "snake_case"))]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name { $($(#[$vm])* $variant,)+ }

        impl $name {
            /// Every value, in the order the UI lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stable identifier stored in Postgres and used on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            /// The name people read in the UI.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label,)+ }
            }
        }

        impl TextEnum for $name {
            const ALL: &'static [$name] = $name::ALL;
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
            fn label(self) -> &'static str {
                $name::label(self)
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(
                        "must be one of: {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// Where a customer stands in their relationship with the business.
    LifecycleStage {
        Prospect => "prospect", "Prospect";
        Customer => "customer", "Customer";
        Churned => "churned", "Churned";
    }
);

text_enum!(
    /// Where a lead came from.
    LeadSource {
        Web => "web", "Website";
        Referral => "referral", "Referral";
        Event => "event", "Event";
        Outbound => "outbound", "Outbound";
        Partner => "partner", "Partner";
        Ads => "ads", "Advertising";
        Import => "import", "Import";
        Other => "other", "Other";
    }
);

text_enum!(
    /// The lead pipeline: new → contacted → qualified → converted, or lost.
    LeadStatus {
        New => "new", "New";
        Contacted => "contacted", "Contacted";
        Qualified => "qualified", "Qualified";
        Converted => "converted", "Converted";
        Lost => "lost", "Lost";
    }
);

text_enum!(
    /// Order state from checkout to fulfilment or reversal.
    OrderStatus {
        Pending => "pending", "Pending";
        Paid => "paid", "Paid";
        Fulfilled => "fulfilled", "Fulfilled";
        Cancelled => "cancelled", "Cancelled";
        Refunded => "refunded", "Refunded";
    }
);

text_enum!(
    /// Where an order was placed.
    SalesChannel {
        Web => "web", "Web shop";
        App => "app", "Mobile app";
        Store => "store", "Store";
        Phone => "phone", "Phone";
        Partner => "partner", "Partner";
        Marketplace => "marketplace", "Marketplace";
    }
);

text_enum!(
    /// Contract life cycle.
    ContractStatus {
        Draft => "draft", "Draft";
        Active => "active", "Active";
        Expired => "expired", "Expired";
        Cancelled => "cancelled", "Cancelled";
        Renewed => "renewed", "Renewed";
    }
);

text_enum!(
    /// Loyalty tier, lowest first.
    Tier {
        Bronze => "bronze", "Bronze";
        Silver => "silver", "Silver";
        Gold => "gold", "Gold";
        Platinum => "platinum", "Platinum";
    }
);

text_enum!(
    /// State of a loyalty membership.
    LoyaltyStatus {
        Active => "active", "Active";
        Paused => "paused", "Paused";
        Cancelled => "cancelled", "Cancelled";
        Expired => "expired", "Expired";
    }
);

text_enum!(
    /// Service ticket state.
    TicketStatus {
        Open => "open", "Open";
        Pending => "pending", "Pending";
        Solved => "solved", "Solved";
        Closed => "closed", "Closed";
    }
);

text_enum!(
    /// How urgent a ticket is.
    Priority {
        Low => "low", "Low";
        Normal => "normal", "Normal";
        High => "high", "High";
        Urgent => "urgent", "Urgent";
    }
);

text_enum!(
    /// How a ticket reached the service team.
    TicketChannel {
        Email => "email", "Email";
        Phone => "phone", "Phone";
        Chat => "chat", "Chat";
        Web => "web", "Web form";
        Social => "social", "Social";
    }
);

text_enum!(
    /// Kind of sales activity.
    ActivityKind {
        Call => "call", "Call";
        Meeting => "meeting", "Meeting";
        Email => "email", "Email";
        Note => "note", "Note";
        Task => "task", "Task";
    }
);

// The enums come from `text_enum!`, which cannot mark a default variant.
#[allow(clippy::derivable_impls)]
impl Default for LifecycleStage {
    fn default() -> Self {
        LifecycleStage::Customer
    }
}

// The enums come from `text_enum!`, which cannot mark a default variant.
#[allow(clippy::derivable_impls)]
impl Default for LeadSource {
    fn default() -> Self {
        LeadSource::Other
    }
}

// The enums come from `text_enum!`, which cannot mark a default variant.
#[allow(clippy::derivable_impls)]
impl Default for LeadStatus {
    fn default() -> Self {
        LeadStatus::New
    }
}

/// Record kinds of the CRM, as used in URLs, audit entries and permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Account,
    Customer,
    Lead,
    Order,
    Contract,
    LoyaltyMembership,
    Ticket,
    Activity,
}

impl RecordKind {
    /// Singular identifier (`customer`), used in audit entries.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Account => "account",
            RecordKind::Customer => "customer",
            RecordKind::Lead => "lead",
            RecordKind::Order => "order",
            RecordKind::Contract => "contract",
            RecordKind::LoyaltyMembership => "loyalty_membership",
            RecordKind::Ticket => "ticket",
            RecordKind::Activity => "activity",
        }
    }

    /// Plural path segment under `/api/v1` (`customers`).
    pub fn collection(self) -> &'static str {
        match self {
            RecordKind::Account => "accounts",
            RecordKind::Customer => "customers",
            RecordKind::Lead => "leads",
            RecordKind::Order => "orders",
            RecordKind::Contract => "contracts",
            RecordKind::LoyaltyMembership => "loyalty-memberships",
            RecordKind::Ticket => "tickets",
            RecordKind::Activity => "activities",
        }
    }

    /// What people call one of these.
    pub fn label(self) -> &'static str {
        match self {
            RecordKind::Account => "Account",
            RecordKind::Customer => "Customer",
            RecordKind::Lead => "Lead",
            RecordKind::Order => "Order",
            RecordKind::Contract => "Contract",
            RecordKind::LoyaltyMembership => "Membership",
            RecordKind::Ticket => "Ticket",
            RecordKind::Activity => "Activity",
        }
    }
}

/// A page of a list, with the cursor of the next page when there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Accounts

crm_record! {
    /// A company the business sells to.
    Account {
        pub id: Uuid,
        pub name: String,
        pub domain: Option<String>,
        pub industry: Option<String>,
        pub employees: Option<i32>,
        pub annual_revenue_minor: Option<i64>,
        pub currency: String,
        pub owner_id: Option<Uuid>,
    }
}

/// Fields of an account that create and update set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    pub name: String,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub industry: Option<String>,
    #[serde(default)]
    pub employees: Option<i32>,
    #[serde(default)]
    pub annual_revenue_minor: Option<i64>,
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(default)]
    pub owner_id: Option<Uuid>,
}

fn default_currency() -> String {
    "USD".into()
}

impl Default for AccountInput {
    fn default() -> Self {
        AccountInput {
            name: String::new(),
            domain: None,
            industry: None,
            employees: None,
            annual_revenue_minor: None,
            currency: default_currency(),
            owner_id: None,
        }
    }
}

impl AccountInput {
    /// Trims and normalises fields, then checks them.
    pub fn normalize(&mut self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        self.name = self.name.trim().to_string();
        required(&mut e, "name", &self.name, 200);
        self.domain = trim_opt(self.domain.take()).map(|d| {
            d.trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_start_matches("www.")
                .trim_end_matches('/')
                .to_lowercase()
        });
        if let Some(d) = &self.domain {
            let ok = d.contains('.')
                && d.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                && !d.starts_with('.')
                && d.rsplit('.').next().is_some_and(|tld| {
                    tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
                });
            if !ok {
                e.add("domain", "Enter a domain like example.com.");
            }
        }
        self.industry = trim_opt(self.industry.take());
        optional_len(&mut e, "industry", &self.industry, 100);
        if self.employees.is_some_and(|n| n < 0) {
            e.add("employees", "Employees cannot be negative.");
        }
        if self.annual_revenue_minor.is_some_and(|n| n < 0) {
            e.add("annual_revenue_minor", "Revenue cannot be negative.");
        }
        currency(&mut e, "currency", &mut self.currency);
        e.into_result()
    }
}

// ---------------------------------------------------------------------------------------------
// Customers

/// Marketing consent per channel (stored as one `consent_<channel>` column each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Consent {
    #[serde(default)]
    #[cfg_attr(feature = "sqlx", sqlx(rename = "consent_email"))]
    pub email: bool,
    #[serde(default)]
    #[cfg_attr(feature = "sqlx", sqlx(rename = "consent_sms"))]
    pub sms: bool,
    #[serde(default)]
    #[cfg_attr(feature = "sqlx", sqlx(rename = "consent_phone"))]
    pub phone: bool,
    #[serde(default)]
    #[cfg_attr(feature = "sqlx", sqlx(rename = "consent_push"))]
    pub push: bool,
}

/// An identifier a customer has in another system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExternalId {
    /// The issuing system, e.g. `shopify`.
    pub namespace: String,
    pub value: String,
}

crm_record! {
    /// A person who buys or may buy.
    Customer {
        pub id: Uuid,
        pub account_id: Option<Uuid>,
        pub first_name: String,
        pub last_name: String,
        #[cfg_attr(feature = "sqlx", sqlx(skip))]
        pub emails: Vec<String>,
        #[cfg_attr(feature = "sqlx", sqlx(skip))]
        pub phones: Vec<String>,
        #[cfg_attr(feature = "sqlx", sqlx(skip))]
        pub external_ids: Vec<ExternalId>,
        pub time_zone: Option<String>,
        pub locale: Option<String>,
        pub lifecycle_stage: LifecycleStage,
        #[cfg_attr(feature = "sqlx", sqlx(flatten))]
        pub consent: Consent,
        #[serde(with = "time::serde::rfc3339::option", default)]
        pub consent_updated_at: Option<OffsetDateTime>,
        pub owner_id: Option<Uuid>,
    }
}

impl Customer {
    /// "First Last", or the first email or phone for nameless customers.
    pub fn display_name(&self) -> String {
        let fallbacks = self.emails.iter().chain(&self.phones).map(String::as_str);
        names::display_name(&self.first_name, &self.last_name, fallbacks)
            .unwrap_or_else(|| NO_NAME.into())
    }
}

/// What a CRM record without a name, email or phone is called.
pub const NO_NAME: &str = "(no name)";

/// Fields of a customer that create and update set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    #[serde(default)]
    pub account_id: Option<Uuid>,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub external_ids: Vec<ExternalId>,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default = "default_stage")]
    pub lifecycle_stage: LifecycleStage,
    #[serde(default)]
    pub consent: Consent,
    #[serde(default)]
    pub owner_id: Option<Uuid>,
}

fn default_stage() -> LifecycleStage {
    LifecycleStage::Customer
}

/// Most emails, phones or external ids one customer may carry.
pub const MAX_IDENTIFIERS: usize = 20;

impl CustomerInput {
    /// Trims and normalises (emails lower-case, phones E.164 with `phone_country` for numbers
    /// written without a country code), then checks.
    pub fn normalize(&mut self, phone_country: CallingCode) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        self.first_name = self.first_name.trim().to_string();
        self.last_name = self.last_name.trim().to_string();
        max_len(&mut e, "first_name", &self.first_name, 100);
        max_len(&mut e, "last_name", &self.last_name, 100);
        let mut emails = Vec::new();
        for (i, raw) in self.emails.iter().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            match check_email(raw) {
                Ok(()) => {
                    let n = normalize_email(raw);
                    if !emails.contains(&n) {
                        emails.push(n);
                    }
                }
                Err(m) => e.add(&format!("emails[{i}]"), m),
            }
        }
        self.emails = emails;
        let mut phones = Vec::new();
        for (i, raw) in self.phones.iter().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            match phone::normalize(raw, phone_country) {
                Ok(p) => {
                    if !phones.contains(&p) {
                        phones.push(p);
                    }
                }
                Err(m) => e.add(&format!("phones[{i}]"), m.to_string()),
            }
        }
        self.phones = phones;
        for (i, x) in self.external_ids.iter_mut().enumerate() {
            x.namespace = x.namespace.trim().to_lowercase();
            x.value = x.value.trim().to_string();
            if x.namespace.is_empty() || x.namespace.len() > 50 {
                e.add(
                    &format!("external_ids[{i}].namespace"),
                    "Name the system the id comes from (at most 50 characters).",
                );
            }
            if x.value.is_empty() || x.value.len() > 254 {
                e.add(
                    &format!("external_ids[{i}].value"),
                    "Enter the id (at most 254 characters).",
                );
            }
        }
        self.external_ids.dedup();
        for (field, n) in [
            ("emails", self.emails.len()),
            ("phones", self.phones.len()),
            ("external_ids", self.external_ids.len()),
        ] {
            if n > MAX_IDENTIFIERS {
                e.add(field, format!("At most {MAX_IDENTIFIERS} per customer."));
            }
        }
        if self.first_name.is_empty()
            && self.last_name.is_empty()
            && self.emails.is_empty()
            && self.phones.is_empty()
        {
            e.add("first_name", "Enter a name, an email or a phone number.");
        }
        self.time_zone = trim_opt(self.time_zone.take());
        optional_len(&mut e, "time_zone", &self.time_zone, 64);
        self.locale = trim_opt(self.locale.take());
        if let Some(l) = &self.locale {
            let b = l.as_bytes();
            let ok = (b.len() == 2 || (b.len() == 5 && b[2] == b'-'))
                && b[..2].iter().all(u8::is_ascii_lowercase)
                && b.get(3..)
                    .is_none_or(|r| r.iter().all(u8::is_ascii_uppercase));
            if !ok {
                e.add("locale", "Use a language tag like en or en-GB.");
            }
        }
        e.into_result()
    }
}

// ---------------------------------------------------------------------------------------------
// Leads

crm_record! {
    /// A prospective customer in the sales pipeline.
    Lead {
        pub id: Uuid,
        pub first_name: String,
        pub last_name: String,
        pub email: Option<String>,
        pub phone: Option<String>,
        pub company_name: Option<String>,
        pub title: Option<String>,
        pub source: LeadSource,
        pub status: LeadStatus,
        pub lost_reason: Option<String>,
        pub estimated_value_minor: Option<i64>,
        pub currency: String,
        pub owner_id: Option<Uuid>,
        pub converted_customer_id: Option<Uuid>,
        pub converted_account_id: Option<Uuid>,
        #[serde(with = "time::serde::rfc3339::option", default)]
        pub converted_at: Option<OffsetDateTime>,
    }
}

impl Lead {
    /// Person name, else company, else email.
    pub fn display_name(&self) -> String {
        let fallbacks = [&self.company_name, &self.email].into_iter().flatten();
        names::display_name(
            &self.first_name,
            &self.last_name,
            fallbacks.map(String::as_str),
        )
        .unwrap_or_else(|| NO_NAME.into())
    }
}

/// Fields of a lead that create and update set. Conversion has its own operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LeadInput {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default = "default_source")]
    pub source: LeadSource,
    #[serde(default = "default_lead_status")]
    pub status: LeadStatus,
    #[serde(default)]
    pub lost_reason: Option<String>,
    #[serde(default)]
    pub estimated_value_minor: Option<i64>,
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(default)]
    pub owner_id: Option<Uuid>,
}

impl Default for LeadInput {
    fn default() -> Self {
        LeadInput {
            first_name: String::new(),
            last_name: String::new(),
            email: None,
            phone: None,
            company_name: None,
            title: None,
            source: LeadSource::Other,
            status: LeadStatus::New,
            lost_reason: None,
            estimated_value_minor: None,
            currency: default_currency(),
            owner_id: None,
        }
    }
}

fn default_source() -> LeadSource {
    LeadSource::Other
}
fn default_lead_status() -> LeadStatus {
    LeadStatus::New
}

impl LeadInput {
    /// Trims and normalises (phones with `phone_country` for numbers written without a
    /// country code), then checks; `converted` is reachable only through conversion.
    pub fn normalize(&mut self, phone_country: CallingCode) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        self.first_name = self.first_name.trim().to_string();
        self.last_name = self.last_name.trim().to_string();
        max_len(&mut e, "first_name", &self.first_name, 100);
        max_len(&mut e, "last_name", &self.last_name, 100);
        self.email = trim_opt(self.email.take());
        if let Some(m) = &self.email {
            match check_email(m) {
                Ok(()) => self.email = Some(normalize_email(m)),
                Err(msg) => e.add("email", msg),
            }
        }
        self.phone = trim_opt(self.phone.take());
        if let Some(p) = &self.phone {
            match phone::normalize(p, phone_country) {
                Ok(p) => self.phone = Some(p),
                Err(msg) => e.add("phone", msg.to_string()),
            }
        }
        self.company_name = trim_opt(self.company_name.take());
        optional_len(&mut e, "company_name", &self.company_name, 200);
        self.title = trim_opt(self.title.take());
        optional_len(&mut e, "title", &self.title, 100);
        if self.first_name.is_empty()
            && self.last_name.is_empty()
            && self.email.is_none()
            && self.company_name.is_none()
        {
            e.add("first_name", "Enter a name, an email or a company.");
        }
        if self.status == LeadStatus::Converted {
            e.add(
                "status",
                "Convert a lead with the conversion action, which creates the customer.",
            );
        }
        self.lost_reason = trim_opt(self.lost_reason.take());
        if self.status == LeadStatus::Lost {
            optional_len(&mut e, "lost_reason", &self.lost_reason, 500);
        } else {
            self.lost_reason = None;
        }
        if self.estimated_value_minor.is_some_and(|v| v < 0) {
            e.add("estimated_value_minor", "The value cannot be negative.");
        }
        currency(&mut e, "currency", &mut self.currency);
        e.into_result()
    }
}

/// How a lead becomes a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LeadConversion {
    /// Link to this existing customer instead of creating one.
    #[serde(default)]
    pub customer_id: Option<Uuid>,
    /// Link to this existing account.
    #[serde(default)]
    pub account_id: Option<Uuid>,
    /// Create an account named after the lead's company (ignored when `account_id` is set).
    #[serde(default)]
    pub create_account: bool,
    /// Expected version of the lead.
    pub version: i32,
}

/// What a conversion produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversionResult {
    pub lead: Lead,
    pub customer_id: Uuid,
    pub customer_created: bool,
    pub account_id: Option<Uuid>,
    pub account_created: bool,
}

// ---------------------------------------------------------------------------------------------
// Orders

/// One line of an order; `line_total_minor = quantity × unit_price_minor − discount_minor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct OrderLine {
    pub line_no: i16,
    pub sku: Option<String>,
    pub description: String,
    pub quantity: i32,
    pub unit_price_minor: i64,
    pub discount_minor: i64,
    pub line_total_minor: i64,
}

crm_record! {
    /// A purchase by a customer.
    Order {
        pub id: Uuid,
        pub number: String,
        pub customer_id: Uuid,
        pub account_id: Option<Uuid>,
        pub status: OrderStatus,
        pub channel: SalesChannel,
        pub currency: String,
        pub total_minor: i64,
        #[serde(with = "time::serde::rfc3339")]
        pub ordered_at: OffsetDateTime,
        pub owner_id: Option<Uuid>,
        #[cfg_attr(feature = "sqlx", sqlx(skip))]
        pub lines: Vec<OrderLine>,
    }
}

/// A line as create and update accept it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OrderLineInput {
    #[serde(default)]
    pub sku: Option<String>,
    pub description: String,
    pub quantity: i32,
    pub unit_price_minor: i64,
    #[serde(default)]
    pub discount_minor: i64,
}

impl OrderLineInput {
    /// `quantity × unit_price − discount`, or `None` on overflow.
    pub fn total_minor(&self) -> Option<i64> {
        i64::from(self.quantity)
            .checked_mul(self.unit_price_minor)?
            .checked_sub(self.discount_minor)
    }
}

/// Fields of an order that create and update set; the total is computed from the lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    /// Order number; generated when empty.
    #[serde(default)]
    pub number: String,
    pub customer_id: Uuid,
    #[serde(default)]
    pub account_id: Option<Uuid>,
    #[serde(default = "default_order_status")]
    pub status: OrderStatus,
    #[serde(default = "default_channel")]
    pub channel: SalesChannel,
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub ordered_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub owner_id: Option<Uuid>,
    pub lines: Vec<OrderLineInput>,
}

fn default_order_status() -> OrderStatus {
    OrderStatus::Pending
}
fn default_channel() -> SalesChannel {
    SalesChannel::Web
}

/// Most lines one order may have.
pub const MAX_ORDER_LINES: usize = 500;

impl OrderInput {
    /// Trims and checks; returns the order total (sum of line totals).
    pub fn normalize(&mut self) -> Result<i64, FieldErrors> {
        let mut e = FieldErrors::default();
        self.number = self.number.trim().to_string();
        max_len(&mut e, "number", &self.number, 50);
        currency(&mut e, "currency", &mut self.currency);
        if self.lines.is_empty() {
            e.add("lines", "An order needs at least one line.");
        }
        if self.lines.len() > MAX_ORDER_LINES {
            e.add(
                "lines",
                format!("At most {MAX_ORDER_LINES} lines per order."),
            );
        }
        let mut total: Option<i64> = Some(0);
        for (i, l) in self.lines.iter_mut().enumerate() {
            l.description = l.description.trim().to_string();
            l.sku = trim_opt(l.sku.take());
            required(
                &mut e,
                &format!("lines[{i}].description"),
                &l.description,
                300,
            );
            optional_len(&mut e, &format!("lines[{i}].sku"), &l.sku, 64);
            if l.quantity <= 0 {
                e.add(
                    &format!("lines[{i}].quantity"),
                    "Quantity must be at least 1.",
                );
            }
            if l.unit_price_minor < 0 {
                e.add(
                    &format!("lines[{i}].unit_price_minor"),
                    "Price cannot be negative.",
                );
            }
            if l.discount_minor < 0 {
                e.add(
                    &format!("lines[{i}].discount_minor"),
                    "Discount cannot be negative.",
                );
            }
            match l.total_minor() {
                Some(t) if t >= 0 => total = total.and_then(|s| s.checked_add(t)),
                Some(_) => e.add(
                    &format!("lines[{i}].discount_minor"),
                    "The discount is larger than the line amount.",
                ),
                None => e.add(
                    &format!("lines[{i}].quantity"),
                    "The line amount is too large.",
                ),
            }
        }
        let total = match total {
            Some(t) => t,
            None => {
                e.add("lines", "The order total is too large.");
                0
            }
        };
        e.into_result().map(|()| total)
    }
}

// ---------------------------------------------------------------------------------------------
// Contracts

crm_record! {
    /// A term agreement with a customer or account.
    Contract {
        pub id: Uuid,
        pub title: String,
        pub customer_id: Option<Uuid>,
        pub account_id: Option<Uuid>,
        pub status: ContractStatus,
        #[serde(with = "iso_date")]
        pub start_date: Date,
        #[serde(with = "iso_date")]
        pub end_date: Date,
        #[serde(with = "iso_date_opt", default)]
        pub renewal_date: Option<Date>,
        pub auto_renew: bool,
        pub value_minor: i64,
        pub currency: String,
        pub owner_id: Option<Uuid>,
    }
}

/// Fields of a contract that create and update set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContractInput {
    pub title: String,
    #[serde(default)]
    pub customer_id: Option<Uuid>,
    #[serde(default)]
    pub account_id: Option<Uuid>,
    #[serde(default = "default_contract_status")]
    pub status: ContractStatus,
    #[serde(with = "iso_date")]
    pub start_date: Date,
    #[serde(with = "iso_date")]
    pub end_date: Date,
    #[serde(with = "iso_date_opt", default)]
    pub renewal_date: Option<Date>,
    #[serde(default)]
    pub auto_renew: bool,
    pub value_minor: i64,
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(default)]
    pub owner_id: Option<Uuid>,
}

fn default_contract_status() -> ContractStatus {
    ContractStatus::Draft
}

impl ContractInput {
    /// Trims and checks dates, amounts and the party.
    pub fn normalize(&mut self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        self.title = self.title.trim().to_string();
        required(&mut e, "title", &self.title, 200);
        if self.customer_id.is_none() && self.account_id.is_none() {
            e.add(
                "customer_id",
                "Choose the customer or the account the contract is with.",
            );
        }
        if self.end_date < self.start_date {
            e.add("end_date", "The end date is before the start date.");
        }
        if self.renewal_date.is_some_and(|r| r < self.start_date) {
            e.add("renewal_date", "The renewal date is before the start date.");
        }
        if self.value_minor < 0 {
            e.add("value_minor", "The value cannot be negative.");
        }
        currency(&mut e, "currency", &mut self.currency);
        e.into_result()
    }
}

// ---------------------------------------------------------------------------------------------
// Loyalty memberships

crm_record! {
    /// A customer's membership of a loyalty programme.
    LoyaltyMembership {
        pub id: Uuid,
        pub customer_id: Uuid,
        pub program: String,
        pub tier: Tier,
        pub points: i32,
        pub status: LoyaltyStatus,
        #[serde(with = "iso_date")]
        pub joined_on: Date,
        #[serde(with = "iso_date_opt", default)]
        pub expires_on: Option<Date>,
    }
}

/// One recorded tier change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct TierChange {
    pub from_tier: Option<Tier>,
    pub to_tier: Tier,
    pub reason: Option<String>,
    pub changed_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub changed_at: OffsetDateTime,
}

/// Fields of a loyalty membership that create and update set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoyaltyMembershipInput {
    pub customer_id: Uuid,
    #[serde(default = "default_program")]
    pub program: String,
    pub tier: Tier,
    #[serde(default)]
    pub points: i32,
    #[serde(default = "default_loyalty_status")]
    pub status: LoyaltyStatus,
    #[serde(with = "iso_date_opt", default)]
    pub joined_on: Option<Date>,
    #[serde(with = "iso_date_opt", default)]
    pub expires_on: Option<Date>,
    /// Why the tier changed (kept in the tier history).
    #[serde(default)]
    pub tier_reason: Option<String>,
}

fn default_program() -> String {
    "default".into()
}
fn default_loyalty_status() -> LoyaltyStatus {
    LoyaltyStatus::Active
}

impl LoyaltyMembershipInput {
    /// Trims and checks.
    pub fn normalize(&mut self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        self.program = self.program.trim().to_string();
        required(&mut e, "program", &self.program, 50);
        if self.points < 0 {
            e.add("points", "Points cannot be negative.");
        }
        if let (Some(j), Some(x)) = (self.joined_on, self.expires_on) {
            if x < j {
                e.add("expires_on", "The expiry date is before the joining date.");
            }
        }
        self.tier_reason = trim_opt(self.tier_reason.take());
        optional_len(&mut e, "tier_reason", &self.tier_reason, 300);
        e.into_result()
    }
}

// ---------------------------------------------------------------------------------------------
// Tickets

crm_record! {
    /// A service request from a customer.
    Ticket {
        pub id: Uuid,
        pub customer_id: Uuid,
        pub subject: String,
        pub description: String,
        pub status: TicketStatus,
        pub priority: Priority,
        pub channel: TicketChannel,
        pub satisfaction: Option<i16>,
        pub external_ref: Option<String>,
        pub owner_id: Option<Uuid>,
        #[serde(with = "time::serde::rfc3339")]
        pub opened_at: OffsetDateTime,
        #[serde(with = "time::serde::rfc3339::option", default)]
        pub solved_at: Option<OffsetDateTime>,
    }
}

/// Fields of a ticket that create and update set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TicketInput {
    pub customer_id: Uuid,
    pub subject: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_ticket_status")]
    pub status: TicketStatus,
    #[serde(default = "default_priority")]
    pub priority: Priority,
    #[serde(default = "default_ticket_channel")]
    pub channel: TicketChannel,
    #[serde(default)]
    pub satisfaction: Option<i16>,
    #[serde(default)]
    pub external_ref: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub opened_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub owner_id: Option<Uuid>,
}

fn default_ticket_status() -> TicketStatus {
    TicketStatus::Open
}
fn default_priority() -> Priority {
    Priority::Normal
}
fn default_ticket_channel() -> TicketChannel {
    TicketChannel::Email
}

impl TicketInput {
    /// Trims and checks.
    pub fn normalize(&mut self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        self.subject = self.subject.trim().to_string();
        required(&mut e, "subject", &self.subject, 300);
        max_len(&mut e, "description", &self.description, 20_000);
        if let Some(s) = self.satisfaction {
            if !(1..=5).contains(&s) {
                e.add("satisfaction", "Satisfaction is rated 1 to 5.");
            } else if !matches!(self.status, TicketStatus::Solved | TicketStatus::Closed) {
                e.add(
                    "satisfaction",
                    "Only solved or closed tickets carry a rating.",
                );
            }
        }
        self.external_ref = trim_opt(self.external_ref.take());
        optional_len(&mut e, "external_ref", &self.external_ref, 100);
        e.into_result()
    }
}

// ---------------------------------------------------------------------------------------------
// Activities

crm_record! {
    /// A call, meeting, email, note or task, linked to a customer, lead and/or account.
    Activity {
        pub id: Uuid,
        pub kind: ActivityKind,
        pub subject: String,
        pub body: String,
        pub customer_id: Option<Uuid>,
        pub lead_id: Option<Uuid>,
        pub account_id: Option<Uuid>,
        #[serde(with = "time::serde::rfc3339")]
        pub occurred_at: OffsetDateTime,
        pub duration_minutes: Option<i32>,
        #[serde(with = "time::serde::rfc3339::option", default)]
        pub due_at: Option<OffsetDateTime>,
        #[serde(with = "time::serde::rfc3339::option", default)]
        pub done_at: Option<OffsetDateTime>,
        pub owner_id: Option<Uuid>,
    }
}

/// Fields of an activity that create and update set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ActivityInput {
    pub kind: ActivityKind,
    pub subject: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub customer_id: Option<Uuid>,
    #[serde(default)]
    pub lead_id: Option<Uuid>,
    #[serde(default)]
    pub account_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub occurred_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub duration_minutes: Option<i32>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub due_at: Option<OffsetDateTime>,
    /// Tasks only: whether the task is done.
    #[serde(default)]
    pub done: bool,
    #[serde(default)]
    pub owner_id: Option<Uuid>,
}

impl ActivityInput {
    /// Trims and checks; due dates and done state belong to tasks only.
    pub fn normalize(&mut self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        self.subject = self.subject.trim().to_string();
        required(&mut e, "subject", &self.subject, 300);
        max_len(&mut e, "body", &self.body, 20_000);
        if self
            .duration_minutes
            .is_some_and(|d| !(0..=1440).contains(&d))
        {
            e.add("duration_minutes", "Duration is 0 to 1440 minutes.");
        }
        if self.kind != ActivityKind::Task {
            if self.due_at.is_some() {
                e.add("due_at", "Only tasks have a due date.");
            }
            if self.done {
                e.add("done", "Only tasks can be marked done.");
            }
        }
        e.into_result()
    }
}

// ---------------------------------------------------------------------------------------------
// Audit

/// One audit log entry as the workbench shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct AuditRecord {
    pub id: i64,
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    pub actor_user_id: Option<Uuid>,
    pub actor_name: Option<String>,
    pub actor_token_id: Option<Uuid>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

// ---------------------------------------------------------------------------------------------
// Field helpers

fn trim_opt(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn required(e: &mut FieldErrors, field: &str, v: &str, max: usize) {
    if v.is_empty() {
        e.add(field, "This field is required.");
    } else {
        max_len(e, field, v, max);
    }
}

fn max_len(e: &mut FieldErrors, field: &str, v: &str, max: usize) {
    if v.chars().count() > max {
        e.add(field, format!("At most {max} characters."));
    }
}

fn optional_len(e: &mut FieldErrors, field: &str, v: &Option<String>, max: usize) {
    if let Some(v) = v {
        max_len(e, field, v, max);
    }
}

fn currency(e: &mut FieldErrors, field: &str, v: &mut String) {
    *v = v.trim().to_uppercase();
    if v.len() != 3 || !v.bytes().all(|b| b.is_ascii_uppercase()) {
        e.add(
            field,
            "Use a three-letter ISO currency code such as USD or EUR.",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_phones_take_the_workspace_country_when_written_without_one() {
        let mut c = CustomerInput {
            first_name: "Ada".into(),
            phones: vec!["030 12345678".into(), "+44 20 7946-0958".into()],
            ..Default::default()
        };
        c.normalize(CallingCode::new(49).unwrap()).unwrap();
        assert_eq!(c.phones, vec!["+493012345678", "+442079460958"]);
        let mut bad = CustomerInput {
            phones: vec!["+1 555 CALL NOW".into()],
            ..Default::default()
        };
        let err = bad.normalize(CallingCode::default()).unwrap_err();
        assert_eq!(
            err.get("phones[0]"),
            Some(phone::PhoneError::Characters.to_string().as_str())
        );
    }

    #[test]
    fn customer_input_dedupes_and_lowercases_identifiers() {
        let mut c = CustomerInput {
            first_name: " Ada ".into(),
            emails: vec![
                "Ada@Example.com".into(),
                "ada@example.com ".into(),
                "".into(),
            ],
            phones: vec!["+1 415 555 0100".into()],
            ..Default::default()
        };
        c.normalize(CallingCode::default()).unwrap();
        assert_eq!(c.first_name, "Ada");
        assert_eq!(c.emails, vec!["ada@example.com"]);
        assert_eq!(c.phones, vec!["+14155550100"]);
    }

    #[test]
    fn customer_needs_a_name_or_a_contact_point() {
        let err = CustomerInput::default()
            .normalize(CallingCode::default())
            .unwrap_err();
        assert!(err.get("first_name").is_some());
        let mut bad = CustomerInput {
            emails: vec!["not-an-email".into()],
            locale: Some("english".into()),
            ..Default::default()
        };
        let err = bad.normalize(CallingCode::default()).unwrap_err();
        assert!(err.get("emails[0]").is_some());
        assert!(err.get("locale").is_some());
    }

    #[test]
    fn order_total_is_the_sum_of_line_totals() {
        let mut o = OrderInput {
            number: "A-1".into(),
            customer_id: Uuid::nil(),
            account_id: None,
            status: OrderStatus::Paid,
            channel: SalesChannel::Web,
            currency: "eur".into(),
            ordered_at: None,
            owner_id: None,
            lines: vec![
                OrderLineInput {
                    sku: None,
                    description: "Shoe".into(),
                    quantity: 2,
                    unit_price_minor: 4999,
                    discount_minor: 500,
                },
                OrderLineInput {
                    sku: Some("SOCK".into()),
                    description: "Sock".into(),
                    quantity: 3,
                    unit_price_minor: 300,
                    discount_minor: 0,
                },
            ],
        };
        assert_eq!(o.normalize().unwrap(), 9498 + 900);
        assert_eq!(o.currency, "EUR");
    }

    #[test]
    fn order_rejects_empty_lines_and_oversized_discounts() {
        let mut o = OrderInput {
            number: String::new(),
            customer_id: Uuid::nil(),
            account_id: None,
            status: OrderStatus::Pending,
            channel: SalesChannel::Web,
            currency: "USD".into(),
            ordered_at: None,
            owner_id: None,
            lines: vec![OrderLineInput {
                sku: None,
                description: "x".into(),
                quantity: 1,
                unit_price_minor: 100,
                discount_minor: 101,
            }],
        };
        assert!(o
            .normalize()
            .unwrap_err()
            .get("lines[0].discount_minor")
            .is_some());
        o.lines.clear();
        assert!(o.normalize().unwrap_err().get("lines").is_some());
    }

    #[test]
    fn lead_cannot_be_set_to_converted_by_edit() {
        let mut l = LeadInput {
            first_name: "Grace".into(),
            status: LeadStatus::Converted,
            ..Default::default()
        };
        assert!(l
            .normalize(CallingCode::default())
            .unwrap_err()
            .get("status")
            .is_some());
    }

    #[test]
    fn non_tasks_have_no_due_date() {
        let mut a = ActivityInput {
            kind: ActivityKind::Call,
            subject: "Intro".into(),
            body: String::new(),
            customer_id: None,
            lead_id: None,
            account_id: None,
            occurred_at: None,
            duration_minutes: Some(15),
            due_at: Some(OffsetDateTime::UNIX_EPOCH),
            done: false,
            owner_id: None,
        };
        assert!(a.normalize().unwrap_err().get("due_at").is_some());
    }

    #[test]
    fn enums_round_trip_their_wire_names() {
        for s in LeadStatus::ALL {
            assert_eq!(s.as_str().parse::<LeadStatus>().unwrap(), *s);
        }
        assert!("bogus".parse::<Tier>().unwrap_err().contains("bronze"));
    }

    #[test]
    fn account_domain_is_cleaned_from_a_url() {
        let mut a = AccountInput {
            name: "Acme".into(),
            domain: Some("https://www.Acme.com/".into()),
            currency: "usd".into(),
            ..Default::default()
        };
        a.normalize().unwrap();
        assert_eq!(a.domain.as_deref(), Some("acme.com"));
    }
}
