//! Label definitions the crate's unit tests share.

use domain::labels::{Comparison, EventMatch, LabelDefinition, LabelRule};

/// The flagship label: viewed /pricing, no `form_submit` within 10 minutes; a trigger.
pub(crate) fn flagship() -> LabelDefinition {
    let mut first = EventMatch::named("Page Viewed");
    first.properties.insert("path".into(), "/pricing".into());
    LabelDefinition {
        name: "high_intent_unresolved".into(),
        description: String::new(),
        rule: LabelRule::Absence {
            first,
            then_not: EventMatch::named("form_submit"),
            within_ms: 10 * 60_000,
        },
        trigger: true,
    }
}

/// `revenue_30d ≥ 100`.
pub(crate) fn big_spender(trigger: bool) -> LabelDefinition {
    LabelDefinition {
        name: "big_spender".into(),
        description: String::new(),
        rule: LabelRule::Threshold {
            field: "revenue_30d".into(),
            op: Comparison::Gte,
            value: "100".into(),
        },
        trigger,
    }
}
