//! Ready-made mappings for real public webhook formats, each with a sample payload of that
//! format (the fixtures; `fixtures/SOURCES.md` says where each shape was checked).

use domain::integrations::Mapping;
use serde_json::json;

/// A system's starting point: its mapping and a sample delivery.
pub struct Template {
    pub system: &'static str,
    /// The kind a sample delivery has (the URL segment after the integration).
    pub sample_kind: &'static str,
    pub sample: &'static str,
    pub mapping: fn() -> Mapping,
}

/// Shopify `orders/create` webhook body (REST Admin API order).
pub const SHOPIFY_ORDER: &str = include_str!("../fixtures/shopify_order.json");
/// Zendesk ticket (Tickets API shape) with its requester.
pub const ZENDESK_TICKET: &str = include_str!("../fixtures/zendesk_ticket.json");
/// SendGrid Event Webhook body: delivered, open, click, bounce.
pub const SENDGRID_EVENTS: &str = include_str!("../fixtures/sendgrid_events.json");

/// Every template; `custom` starts with an empty mapping and no sample.
pub const TEMPLATES: &[Template] = &[
    Template {
        system: "shopify",
        sample_kind: "orders/create",
        sample: SHOPIFY_ORDER,
        mapping: shopify,
    },
    Template {
        system: "zendesk",
        sample_kind: "tickets",
        sample: ZENDESK_TICKET,
        mapping: zendesk,
    },
    Template {
        system: "sendgrid",
        sample_kind: "events",
        sample: SENDGRID_EVENTS,
        mapping: sendgrid,
    },
    Template {
        system: "custom",
        sample_kind: "default",
        sample: "{}",
        mapping: Mapping::default,
    },
];

/// The template of a system.
pub fn template(system: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.system == system)
}

fn parse(v: serde_json::Value) -> Mapping {
    serde_json::from_value(v).expect("built-in mappings are well-formed")
}

/// Shopify orders: the order with its customer and lines as CRM state; creation also as an
/// `Order Completed` event.
pub fn shopify() -> Mapping {
    parse(json!({"rules": [
        {
            "name": "Shopify order → CRM order",
            "kinds": ["orders/create", "orders/updated", "orders/paid", "orders/cancelled"],
            "target": "order",
            "namespace": "shopify",
            "lines": "line_items",
            "fields": [
                {"to": "customer.email", "from": "customer.email"},
                {"to": "customer.phone", "from": "customer.phone"},
                {"to": "customer.external_id", "from": "customer.id"},
                {"to": "customer.first_name", "from": "customer.first_name"},
                {"to": "customer.last_name", "from": "customer.last_name"},
                {"to": "number", "from": "name"},
                {"to": "currency", "from": "currency"},
                {"to": "status", "from": "financial_status", "map": {
                    "pending": "pending", "authorized": "pending", "partially_paid": "pending",
                    "paid": "paid", "partially_refunded": "paid", "refunded": "refunded",
                    "voided": "cancelled", "expired": "cancelled"}},
                {"to": "channel", "from": "", "default": "web"},
                {"to": "ordered_at", "from": "created_at"},
                {"to": "line.sku", "from": "sku"},
                {"to": "line.description", "from": "title"},
                {"to": "line.quantity", "from": "quantity"},
                {"to": "line.unit_price", "from": "price"},
                {"to": "line.discount", "from": "total_discount"}
            ]
        },
        {
            "name": "New Shopify order → Order Completed event",
            "kinds": ["orders/create"],
            "target": "event",
            "fields": [
                {"to": "event", "from": "", "default": "Order Completed"},
                {"to": "email", "from": "customer.email"},
                {"to": "timestamp", "from": "created_at"},
                {"to": "properties.order_id", "from": "id"},
                {"to": "properties.order_number", "from": "name"},
                {"to": "properties.total", "from": "total_price"},
                {"to": "properties.currency", "from": "currency"},
                {"to": "properties.landing_site", "from": "landing_site"}
            ]
        }
    ]}))
}

/// Zendesk tickets: the ticket and its requester as CRM state, and a `Ticket Updated` event.
pub fn zendesk() -> Mapping {
    parse(json!({"rules": [
        {
            "name": "Zendesk ticket → CRM ticket",
            "kinds": ["tickets", "tickets/*"],
            "target": "ticket",
            "namespace": "zendesk",
            "fields": [
                {"to": "customer.email", "from": "requester.email"},
                {"to": "customer.external_id", "from": "requester.id"},
                {"to": "customer.name", "from": "requester.name"},
                {"to": "external_ref", "from": "ticket.id"},
                {"to": "subject", "from": "ticket.subject"},
                {"to": "description", "from": "ticket.description"},
                {"to": "status", "from": "ticket.status", "map": {"new": "open", "hold": "pending"}},
                {"to": "priority", "from": "ticket.priority"},
                {"to": "channel", "from": "ticket.via.channel", "map": {
                    "voice": "phone", "sms": "phone", "native_messaging": "chat", "api": "web",
                    "mobile_sdk": "web", "mobile": "web", "any_channel": "web",
                    "twitter": "social", "facebook": "social"}},
                {"to": "opened_at", "from": "ticket.created_at"}
            ]
        },
        {
            "name": "Zendesk ticket → Ticket Updated event",
            "kinds": ["tickets", "tickets/*"],
            "target": "event",
            "fields": [
                {"to": "event", "from": "", "default": "Ticket Updated"},
                {"to": "email", "from": "requester.email"},
                {"to": "timestamp", "from": "ticket.updated_at"},
                {"to": "properties.ticket_id", "from": "ticket.id"},
                {"to": "properties.status", "from": "ticket.status"},
                {"to": "properties.priority", "from": "ticket.priority"},
                {"to": "properties.subject", "from": "ticket.subject"}
            ]
        }
    ]}))
}

/// SendGrid: each engagement event (an array item) as an email event; SendGrid's event id is
/// the messageId, so its retries are dropped downstream.
pub fn sendgrid() -> Mapping {
    parse(json!({"rules": [
        {
            "name": "SendGrid event → email engagement event",
            "kinds": ["*"],
            "each": "$",
            "target": "event",
            "fields": [
                {"to": "event", "from": "event", "map": {
                    "processed": "Email Processed", "delivered": "Email Delivered",
                    "open": "Email Opened", "click": "Email Link Clicked",
                    "bounce": "Email Bounced", "dropped": "Email Dropped",
                    "deferred": "Email Deferred", "spamreport": "Email Marked as Spam",
                    "unsubscribe": "Unsubscribed", "group_unsubscribe": "Unsubscribed",
                    "group_resubscribe": "Resubscribed"}},
                {"to": "email", "from": "email"},
                {"to": "timestamp", "from": "timestamp"},
                {"to": "message_id", "from": "sg_event_id"},
                {"to": "properties.sg_message_id", "from": "sg_message_id"},
                {"to": "properties.category", "from": "category"},
                {"to": "properties.url", "from": "url"},
                {"to": "properties.reason", "from": "reason"},
                {"to": "properties.bounce_type", "from": "type"},
                {"to": "properties.user_agent", "from": "useragent"}
            ]
        }
    ]}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan, WriteBody};
    use domain::crm::{OrderStatus, Priority, TicketChannel, TicketStatus};

    fn sample(t: &Template) -> serde_json::Value {
        serde_json::from_str(t.sample).unwrap()
    }

    #[test]
    fn every_builtin_mapping_is_valid() {
        for t in TEMPLATES.iter().filter(|t| t.system != "custom") {
            let e = (t.mapping)().validate();
            assert!(e.is_empty(), "{}: {e:?}", t.system);
        }
    }

    #[test]
    fn shopify_order_becomes_a_crm_order_with_customer_and_lines_plus_an_event() {
        let t = template("shopify").unwrap();
        let writes = plan(&(t.mapping)(), "orders/create", &sample(t), "x").unwrap();
        assert_eq!(writes.len(), 2);
        let WriteBody::Order(c, o) = &writes[0].body else {
            panic!("{writes:?}")
        };
        assert_eq!(c.emails, ["ada.lovelace@example.com"]);
        assert_eq!(c.external_id.as_ref().unwrap().namespace, "shopify");
        assert_eq!(c.external_id.as_ref().unwrap().value, "7301234567890");
        assert_eq!(o.number, "#1001");
        assert_eq!(o.status, Some(OrderStatus::Paid));
        assert_eq!(o.currency, "USD");
        assert_eq!(o.lines.len(), 2);
        assert_eq!(o.lines[0].unit_price_minor, 8900);
        assert_eq!(o.lines[1].unit_price_minor, 4950);
        assert_eq!(o.lines[1].quantity, 2);
        let WriteBody::Event { event, key, .. } = &writes[1].body else {
            panic!()
        };
        assert_eq!(event["event"], "Order Completed");
        assert_eq!(key, "email:ada.lovelace@example.com");
        assert_eq!(event["properties"]["total"], "213.04");
        // orders/updated writes the order but sends no second "Order Completed".
        let updated = plan(&(t.mapping)(), "orders/updated", &sample(t), "x").unwrap();
        assert_eq!(updated.len(), 1);
    }

    #[test]
    fn zendesk_ticket_becomes_a_crm_ticket_for_its_requester() {
        let t = template("zendesk").unwrap();
        let writes = plan(&(t.mapping)(), "tickets", &sample(t), "x").unwrap();
        let WriteBody::Ticket(c, tk) = &writes[0].body else {
            panic!("{writes:?}")
        };
        assert_eq!(c.emails, ["ada.lovelace@example.com"]);
        assert_eq!(c.first_name.as_deref(), Some("Ada"));
        assert_eq!(c.last_name.as_deref(), Some("Lovelace"));
        assert_eq!(tk.external_ref, "48213");
        assert_eq!(tk.status, Some(TicketStatus::Open));
        assert_eq!(tk.priority, Some(Priority::High));
        assert_eq!(tk.channel, Some(TicketChannel::Email));
        assert!(matches!(writes[1].body, WriteBody::Event { .. }));
    }

    #[test]
    fn sendgrid_batch_becomes_one_event_per_item_keyed_by_sendgrid_event_id() {
        let t = template("sendgrid").unwrap();
        let payload = sample(t);
        let writes = plan(&(t.mapping)(), "events", &payload, "x").unwrap();
        assert_eq!(writes.len(), 4);
        let names: Vec<String> = writes
            .iter()
            .map(|w| match &w.body {
                WriteBody::Event { event, .. } => event["event"].as_str().unwrap().to_string(),
                _ => panic!(),
            })
            .collect();
        assert_eq!(
            names,
            [
                "Email Delivered",
                "Email Opened",
                "Email Link Clicked",
                "Email Bounced"
            ]
        );
        let WriteBody::Event { event, .. } = &writes[2].body else {
            panic!()
        };
        assert_eq!(event["messageId"], payload[2]["sg_event_id"]);
        assert_eq!(event["properties"]["url"], payload[2]["url"]);
        assert_eq!(
            event["context"]["traits"]["email"],
            "ada.lovelace@example.com"
        );
    }

    #[test]
    fn a_bad_shopify_price_is_reported_under_shopifys_field_name() {
        let t = template("shopify").unwrap();
        let mut payload = sample(t);
        payload["line_items"][1]["price"] = "forty-nine".into();
        payload["financial_status"] = "disputed".into();
        let e = plan(&(t.mapping)(), "orders/create", &payload, "x").unwrap_err();
        assert!(
            e.fields["line_items.1.price"].contains("forty-nine"),
            "{e:?}"
        );
        assert!(e.fields["financial_status"].contains("disputed"), "{e:?}");
    }
}
