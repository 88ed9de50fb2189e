//! Loyalty memberships: the list, and the membership page with its tier history.

use super::{
    badge, choice, col, num, related, saved, time_cell, ymd, KindView, ListCx, ListParts, Names,
    RecordCx,
};
use crate::pages::crm::model::{Cell, RecordView, Row, Tone};
use crm::CrmError;
use domain::crm::{LoyaltyMembership, LoyaltyStatus, RecordKind, Tier};
use sqlx::PgConnection;
use uuid::Uuid;

/// The workbench views of memberships.
pub(super) struct Memberships;

impl KindView for Memberships {
    const KIND: RecordKind = RecordKind::LoyaltyMembership;
    const TITLE: &'static str = "Memberships";

    async fn list(conn: &mut PgConnection, cx: &ListCx<'_>) -> Result<ListParts, CrmError> {
        let page = crm::loyalty::list(conn, cx.actor, &cx.params).await?;
        let customers = page.items.iter().map(|m| m.customer_id);
        let names = cx.names(conn, customers, None).await?;
        let rows = page
            .items
            .iter()
            .map(|m| Row {
                id: m.id,
                cells: vec![
                    names.customer(Some(m.customer_id)),
                    Cell::text(m.program.clone()),
                    badge(
                        m.tier.label(),
                        if matches!(m.tier, Tier::Gold | Tier::Platinum) {
                            Tone::Warn
                        } else {
                            Tone::Neutral
                        },
                    ),
                    Cell::Money(m.points.to_string()),
                    badge(m.status.label(), status_tone(m.status)),
                    Cell::text(ymd(m.joined_on)),
                ],
            })
            .collect();
        Ok(ListParts {
            columns: vec![
                col("Customer", None),
                col("Programme", None),
                col("Tier", None),
                num("Points", Some("points")),
                col("Status", None),
                col("Joined", Some("joined_on")),
            ],
            rows,
            next_cursor: page.next_cursor,
            filters: vec![
                choice::<Tier>("tier", "Tier"),
                choice::<LoyaltyStatus>("status", "Status"),
            ],
            saved_views: vec![saved(
                "Gold and platinum",
                "tier=gold,platinum&sort=-points".into(),
            )],
        })
    }

    async fn record(conn: &mut PgConnection, cx: RecordCx<'_>) -> Result<RecordView, CrmError> {
        let RecordCx { actor, id, history } = cx;
        let m: LoyaltyMembership = crm::loyalty::get(conn, actor, id).await?;
        let names = Names::load(conn, actor.workspace_id, [m.customer_id], None).await?;
        let tiers = crm::loyalty::tier_history(conn, actor, id).await?;
        Ok(RecordView {
            kind: Self::KIND,
            id,
            title: format!("{} membership", m.tier.label()),
            subtitle: format!("{} points", m.points),
            badges: vec![(m.status.label().into(), status_tone(m.status))],
            fields: vec![
                ("Customer".into(), names.customer(Some(m.customer_id))),
                ("Programme".into(), Cell::text(m.program.clone())),
                ("Joined".into(), Cell::text(ymd(m.joined_on))),
                ("Expires".into(), Cell::opt(m.expires_on.map(ymd))),
            ],
            related: vec![related(
                "Tier history",
                vec![
                    col("From", None),
                    col("To", None),
                    col("Why", None),
                    col("When", None),
                ],
                tiers
                    .iter()
                    .enumerate()
                    .map(|(i, t)| Row {
                        id: Uuid::from_u128(i as u128),
                        cells: vec![
                            Cell::opt(t.from_tier.map(|x| x.label())),
                            Cell::text(t.to_tier.label()),
                            Cell::opt(t.reason.clone()),
                            time_cell(t.changed_at),
                        ],
                    })
                    .collect(),
                None,
                "No tier changes.",
            )],
            timeline: vec![],
            history,
            version: m.version,
            can_edit: false,
        })
    }
}

/// An active membership is good news; any other status is neutral.
fn status_tone(s: LoyaltyStatus) -> Tone {
    if s == LoyaltyStatus::Active {
        Tone::Good
    } else {
        Tone::Neutral
    }
}
