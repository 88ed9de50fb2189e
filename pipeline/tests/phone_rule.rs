//! The CRM and the pipeline read a phone by one rule: the number a CRM user types for a
//! customer is the identifier the pipeline makes of the same text on an event, in the
//! workspace's default country, so the visitor joins the customer's profile.

use domain::crm::CustomerInput;
use domain::phone::{CallingCode, PhoneCountries};
use pipeline::input::{crm, segment};
use pipeline::{Effect, Engine, EngineConfig};
use serde_json::json;

const WS: &str = "8f0c2a3e-0000-4000-8000-000000000001";
const CUSTOMER: &str = "6a1d9c0e-0000-4000-8000-000000000042";

/// What the CRM stores for a phone typed into a customer, or `None` when it refuses it.
fn crm_form(raw: &str, country: CallingCode) -> Option<String> {
    let mut input = CustomerInput {
        first_name: "Ada".into(),
        phones: vec![raw.into()],
        ..Default::default()
    };
    input.normalize(country).ok()?;
    input.phones.pop()
}

/// The identifiers of the profile an identify call carrying `raw` as its phone lands on, in an
/// engine that has seen the CRM store `stored` for the customer (if it stored anything).
fn profile_of_event(raw: &str, stored: Option<&str>, country: CallingCode) -> Vec<String> {
    let countries: PhoneCountries = [(WS.parse().unwrap(), country)].into_iter().collect();
    let mut e = Engine::new(EngineConfig::default());
    if let Some(stored) = stored {
        let change = json!({
            "op": "c", "ts_ms": 1_800_000_000_000i64, "before": null,
            "source": {"connector": "pulse", "db": "pulse", "schema": "public",
                       "table": "customer_identifiers", "lsn": 1, "txId": null},
            "after": {"workspace_id": WS, "customer_id": CUSTOMER, "kind": "phone",
                      "namespace": "", "value": stored}
        });
        let change = crm::decode(&serde_json::to_vec(&change).unwrap());
        e.process_crm(0, 0, change);
    }
    let event = json!({
        "type": "identify", "anonymousId": "visitor-1", "messageId": "m-1",
        "timestamp": "2027-01-15T09:00:00Z", "traits": {"phone": raw},
        "_pulse": {"workspaceId": WS}
    });
    let event = segment::decode(&serde_json::to_vec(&event).unwrap(), &countries);
    let effects = e.process(0, 0, event);
    let profile = effects
        .iter()
        .find_map(|f| match &f.effect {
            Effect::Event { profile, .. } => Some(profile.clone()),
            _ => None,
        })
        .expect("the event is attributed to a profile");
    e.identity(WS)
        .unwrap()
        .identifiers(&profile)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_phone_the_crm_accepts_joins_its_profile() {
    let us = CallingCode::NORTH_AMERICA;
    let de = CallingCode::new(49).unwrap();
    let uk = CallingCode::new(44).unwrap();
    let niue = CallingCode::new(683).unwrap();
    let cases = [
        (us, "(415) 555-0100", "+14155550100"),
        (us, "1-415-555-0100", "+14155550100"),
        (us, "555 1234", "+15551234"),
        (us, "+44 20 7946 0958", "+442079460958"),
        (de, "030 1234567", "+49301234567"),
        (de, "0049 30 1234567", "+49301234567"),
        (de, "+1 415 555 0100", "+14155550100"),
        (uk, "020 7946 0958", "+442079460958"),
        (niue, "4002", "+6834002"),
        (us, "+683 4002", "+6834002"),
    ];
    for (country, raw, expected) in cases {
        let stored = crm_form(raw, country);
        assert_eq!(
            stored.as_deref(),
            Some(expected),
            "the CRM stores {raw:?} in {country}"
        );
        let ids = profile_of_event(raw, stored.as_deref(), country);
        assert!(
            ids.contains(&format!("crm:{CUSTOMER}")),
            "{raw:?} in {country} joins the customer's profile: {ids:?}"
        );
        assert!(ids.contains(&format!("phone:{expected}")), "{ids:?}");
    }
}

#[test]
fn a_phone_the_crm_refuses_is_no_identifier_either() {
    let us = CallingCode::NORTH_AMERICA;
    for raw in ["+1 111 111 1111", "call me", "12", "+0 555 1234"] {
        assert_eq!(crm_form(raw, us), None, "the CRM refuses {raw:?}");
        let ids = profile_of_event(raw, None, us);
        assert_eq!(ids, vec!["anon:visitor-1".to_string()], "{raw:?}");
    }
}
