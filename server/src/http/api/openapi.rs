//! The OpenAPI document of `/api/v1`, generated from the code: record schemas come from the
//! domain types (utoipa derives), list parameters from each record's `ListSpec` (filters,
//! allowed values, sorts), so the document cannot drift from what the handlers accept.

use crm::list::{FilterKind, ListSpec};
use domain::crm as d;
use domain::crm::RecordKind;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem, PathsBuilder,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{
    ArrayBuilder, ComponentsBuilder, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, KnownFormat, OpenApi, OpenApiBuilder, Ref, RefOr, Required,
};
use utoipa::ToSchema;

struct Resource {
    kind: RecordKind,
    spec: &'static ListSpec,
    record: &'static str,
    input: &'static str,
}

const RESOURCES: &[Resource] = &[
    Resource {
        kind: RecordKind::Account,
        spec: &crm::accounts::LIST,
        record: "Account",
        input: "AccountInput",
    },
    Resource {
        kind: RecordKind::Customer,
        spec: &crm::customers::LIST,
        record: "Customer",
        input: "CustomerInput",
    },
    Resource {
        kind: RecordKind::Lead,
        spec: &crm::leads::LIST,
        record: "Lead",
        input: "LeadInput",
    },
    Resource {
        kind: RecordKind::Order,
        spec: &crm::orders::LIST,
        record: "Order",
        input: "OrderInput",
    },
    Resource {
        kind: RecordKind::Contract,
        spec: &crm::contracts::LIST,
        record: "Contract",
        input: "ContractInput",
    },
    Resource {
        kind: RecordKind::LoyaltyMembership,
        spec: &crm::loyalty::LIST,
        record: "LoyaltyMembership",
        input: "LoyaltyMembershipInput",
    },
    Resource {
        kind: RecordKind::Ticket,
        spec: &crm::tickets::LIST,
        record: "Ticket",
        input: "TicketInput",
    },
    Resource {
        kind: RecordKind::Activity,
        spec: &crm::activities::LIST,
        record: "Activity",
        input: "ActivityInput",
    },
];

fn schemas() -> Vec<(String, RefOr<Schema>)> {
    let mut out = Vec::new();
    fn add<T: ToSchema>(out: &mut Vec<(String, RefOr<Schema>)>) {
        out.push((T::name().to_string(), T::schema()));
        T::schemas(out);
    }
    add::<d::Account>(&mut out);
    add::<d::AccountInput>(&mut out);
    add::<d::Customer>(&mut out);
    add::<d::CustomerInput>(&mut out);
    add::<d::Lead>(&mut out);
    add::<d::LeadInput>(&mut out);
    add::<d::LeadConversion>(&mut out);
    add::<d::ConversionResult>(&mut out);
    add::<d::Order>(&mut out);
    add::<d::OrderInput>(&mut out);
    add::<d::Contract>(&mut out);
    add::<d::ContractInput>(&mut out);
    add::<d::LoyaltyMembership>(&mut out);
    add::<d::LoyaltyMembershipInput>(&mut out);
    add::<d::TierChange>(&mut out);
    add::<d::Ticket>(&mut out);
    add::<d::TicketInput>(&mut out);
    add::<d::Activity>(&mut out);
    add::<d::ActivityInput>(&mut out);
    add::<d::AuditRecord>(&mut out);
    for r in RESOURCES {
        let page = ObjectBuilder::new()
            .property(
                "items",
                ArrayBuilder::new().items(Ref::from_schema_name(r.record)),
            )
            .required("items")
            .property(
                "next_cursor",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some(
                        "Pass as `cursor` for the next page; absent on the last page.",
                    )),
            );
        out.push((format!("{}Page", r.record), Schema::from(page).into()));
    }
    let error = ObjectBuilder::new()
        .property(
            "error",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("Machine-readable code.")),
        )
        .required("error")
        .property(
            "message",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("What went wrong, for people.")),
        )
        .required("message")
        .property(
            "fields",
            ObjectBuilder::new()
                .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)))
                .description(Some("422 only: message per field, e.g. `emails[0]`.")),
        )
        .property(
            "current_version",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .description(Some("409 only: the record's version now.")),
        );
    out.push(("Error".into(), Schema::from(error).into()));
    out
}

fn json(schema: impl Into<RefOr<Schema>>) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

fn response(description: &str, schema: Option<&str>) -> utoipa::openapi::Response {
    let mut b = ResponseBuilder::new().description(description);
    if let Some(s) = schema {
        b = b.content("application/json", json(Ref::from_schema_name(s)));
    }
    b.build()
}

fn body(schema: &str) -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .content("application/json", json(Ref::from_schema_name(schema)))
        .required(Some(Required::True))
        .build()
}

fn query(
    name: &str,
    schema: impl Into<RefOr<Schema>>,
    description: &str,
) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .schema(Some(schema))
        .description(Some(description))
        .build()
}

fn id_param() -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
        ))
        .build()
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn list_parameters(spec: &ListSpec) -> Vec<utoipa::openapi::path::Parameter> {
    let mut ps = Vec::new();
    if spec.search.is_some() {
        ps.push(query("q", string(), "Case-insensitive substring search."));
    }
    let sorts: Vec<String> = spec
        .sorts
        .iter()
        .flat_map(|s| [s.name.to_string(), format!("-{}", s.name)])
        .collect();
    ps.push(query(
        "sort",
        string().enum_values(Some(sorts)),
        &format!(
            "Sort order; `-` prefix for descending. Default `{}`.",
            spec.default_sort
        ),
    ));
    ps.push(query(
        "cursor",
        string(),
        "The `next_cursor` of the previous page.",
    ));
    ps.push(query(
        "limit",
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(crm::list::MAX_LIMIT)),
        &format!("Page size, default {}.", crm::list::DEFAULT_LIMIT),
    ));
    ps.push(query(
        "deleted",
        ObjectBuilder::new().schema_type(Type::Boolean),
        "`true` lists the trash (deleted records).",
    ));
    for f in spec.filters {
        let (schema, description) = match f.kind {
            FilterKind::OneOf(values) => (
                string().enum_values(Some(values.iter().copied())),
                "One value, or several separated by commas.".to_string(),
            ),
            FilterKind::Uuid => (
                string(),
                "A UUID; `me` for the signed-in user; `none` for no value.".to_string(),
            ),
            FilterKind::Bool => (
                ObjectBuilder::new().schema_type(Type::Boolean),
                String::new(),
            ),
            FilterKind::Since => (
                string(),
                "On or after this date (YYYY-MM-DD) or RFC 3339 time.".to_string(),
            ),
            FilterKind::Before => (
                string(),
                "Before this date (YYYY-MM-DD) or RFC 3339 time.".to_string(),
            ),
        };
        ps.push(query(f.name, schema, &description));
    }
    ps
}

fn op(tag: &str, summary: &str) -> OperationBuilder {
    OperationBuilder::new()
        .tag(tag)
        .summary(Some(summary))
        .response(
            "401",
            response("No session and no valid API token.", Some("Error")),
        )
}

/// Builds the document.
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for r in RESOURCES {
        let coll = r.kind.collection();
        let label = r.kind.label();
        let tag = label;
        let mut list = PathItem::new(
            HttpMethod::Get,
            op(tag, &format!("List {}", coll.replace('-', " ")))
                .parameters(Some(list_parameters(r.spec)))
                .response(
                    "200",
                    response("A page of records.", Some(&format!("{}Page", r.record))),
                )
                .response(
                    "400",
                    response(
                        "Unknown parameter, sort, filter value or cursor.",
                        Some("Error"),
                    ),
                ),
        );
        list.post = Some(
            op(tag, &format!("Create a {}", label.to_lowercase()))
                .request_body(Some(body(r.input)))
                .response(
                    "201",
                    response(
                        "Created; the ETag header carries the version.",
                        Some(r.record),
                    ),
                )
                .response(
                    "403",
                    response("The role or token may not create records.", Some("Error")),
                )
                .response(
                    "422",
                    response(
                        "Validation failed; `fields` names each bad field.",
                        Some("Error"),
                    ),
                )
                .build(),
        );
        paths = paths.path(format!("/api/v1/{coll}"), list);

        let mut one = PathItem::new(
            HttpMethod::Get,
            op(tag, &format!("Get a {}", label.to_lowercase()))
                .parameter(id_param())
                .response(
                    "200",
                    response(
                        "The record; the ETag header carries the version.",
                        Some(r.record),
                    ),
                )
                .response(
                    "404",
                    response("Not in this workspace, or deleted.", Some("Error")),
                ),
        );
        one.put = Some(
            op(tag, &format!("Update a {}", label.to_lowercase()))
                .parameter(id_param())
                .parameter(
                    ParameterBuilder::new()
                        .name("If-Match")
                        .parameter_in(ParameterIn::Header)
                        .required(Required::True)
                        .schema(Some(string()))
                        .description(Some("The ETag (version) the change is based on.")),
                )
                .request_body(Some(body(r.input)))
                .response("200", response("Updated.", Some(r.record)))
                .response(
                    "403",
                    response(
                        "Not allowed (e.g. a sales rep editing someone else's record).",
                        Some("Error"),
                    ),
                )
                .response(
                    "409",
                    response(
                        "Changed since you read it; `current_version` says to what.",
                        Some("Error"),
                    ),
                )
                .response("422", response("Validation failed.", Some("Error")))
                .response("428", response("If-Match missing.", Some("Error")))
                .build(),
        );
        one.delete = Some(
            op(
                tag,
                &format!("Move a {} to the trash", label.to_lowercase()),
            )
            .parameter(id_param())
            .response("204", response("Deleted (restorable).", None))
            .response("409", response("If-Match given and stale.", Some("Error")))
            .build(),
        );
        paths = paths.path(format!("/api/v1/{coll}/{{id}}"), one);
        paths = paths.path(
            format!("/api/v1/{coll}/{{id}}/restore"),
            PathItem::new(
                HttpMethod::Post,
                op(tag, "Restore from the trash")
                    .parameter(id_param())
                    .response("200", response("Restored.", Some(r.record))),
            ),
        );
        paths = paths.path(
            format!("/api/v1/{coll}/{{id}}/history"),
            PathItem::new(
                HttpMethod::Get,
                op(tag, "Audit history, newest first")
                    .parameter(id_param())
                    .response(
                        "200",
                        ResponseBuilder::new()
                            .description("Audit entries with before and after images.")
                            .content(
                                "application/json",
                                json(
                                    ArrayBuilder::new().items(Ref::from_schema_name("AuditRecord")),
                                ),
                            ),
                    ),
            ),
        );
    }
    paths = paths.path(
        "/api/v1/leads/{id}/convert",
        PathItem::new(
            HttpMethod::Post,
            op("Lead", "Convert a lead into a customer (and account)")
                .parameter(id_param())
                .request_body(Some(body("LeadConversion")))
                .response("200", response("Converted.", Some("ConversionResult")))
                .response(
                    "422",
                    response("Already converted, lost, or a bad link.", Some("Error")),
                ),
        ),
    );
    paths = paths.path(
        "/api/v1/loyalty-memberships/{id}/tiers",
        PathItem::new(
            HttpMethod::Get,
            op("Membership", "Tier history, oldest first")
                .parameter(id_param())
                .response(
                    "200",
                    ResponseBuilder::new().description("Tier changes.").content(
                        "application/json",
                        json(ArrayBuilder::new().items(Ref::from_schema_name("TierChange"))),
                    ),
                ),
        ),
    );
    let token_body = ObjectBuilder::new()
        .property("name", string())
        .required("name")
        .property(
            "scopes",
            ArrayBuilder::new()
                .items(string().enum_values(Some(crm::Scope::ALL.iter().map(|s| s.as_str())))),
        )
        .required("scopes");
    let mut tokens = PathItem::new(
        HttpMethod::Get,
        op("API tokens", "List API tokens (admins)")
            .response("200", response("Tokens, without secrets.", None)),
    );
    tokens.post = Some(
        op(
            "API tokens",
            "Issue an API token (admins); the secret is in this response only",
        )
        .request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", json(token_body))
                .required(Some(Required::True))
                .build(),
        ))
        .response("201", response("The token and its secret.", None))
        .build(),
    );
    paths = paths.path("/api/v1/tokens", tokens);
    paths = paths.path(
        "/api/v1/tokens/{id}",
        PathItem::new(
            HttpMethod::Delete,
            op("API tokens", "Revoke an API token (admins)")
                .parameter(id_param())
                .response("204", response("Revoked.", None)),
        ),
    );

    let mut components = ComponentsBuilder::new().schemas_from_iter(schemas());
    components = components.security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("pulse_…")
                .build(),
        ),
    );
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Pulse API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "CRM records of one workspace. Authenticate with the workbench session cookie or \
                     `Authorization: Bearer <API token>`. Lists are cursor-paginated; updates need \
                     `If-Match` with the record's ETag.",
                )),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .security(Some([SecurityRequirement::new("bearer", Vec::<String>::new())]))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_type_has_list_item_restore_and_history_paths_with_schemas() {
        let doc = serde_json::to_value(document()).unwrap();
        for r in RESOURCES {
            let coll = r.kind.collection();
            for p in [
                format!("/api/v1/{coll}"),
                format!("/api/v1/{coll}/{{id}}"),
                format!("/api/v1/{coll}/{{id}}/history"),
            ] {
                assert!(doc["paths"][&p].is_object(), "missing {p}");
            }
            assert!(
                doc["components"]["schemas"][r.record].is_object(),
                "missing schema {}",
                r.record
            );
            assert!(
                doc["components"]["schemas"][r.input].is_object(),
                "missing schema {}",
                r.input
            );
        }
        let leads = &doc["paths"]["/api/v1/leads"]["get"]["parameters"];
        let status = leads
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "status")
            .unwrap();
        assert_eq!(status["schema"]["enum"][0], "new");
    }

    #[test]
    fn every_schema_reference_resolves() {
        let text = serde_json::to_string(&document()).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "dangling $ref to {name}"
            );
        }
    }
}
