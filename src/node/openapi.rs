//! The node's OpenAPI 3.1 document, served at `GET /openapi.json`.
//!
//! Generated, never written by hand: every route is registered through utoipa-axum's
//! `routes!`, so a handler is in the router exactly when it is in the document, with its
//! `#[utoipa::path]` (parameters, request body, answers) and the `ToSchema` of the very types
//! it serializes. [`ApiDoc`] adds what is common to many operations once: the error answers
//! any route can give (a bad path is 400 everywhere, the admin token is checked on every admin
//! route, …) and the security schemes.

use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};
use utoipa::{IntoParams, Modify};

use crate::names::{ScenarioName, ServiceName, VersionId};

/// The document's fixed parts; `router()` fills in the paths.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Switchyard API node",
        description = "Predictions (native and Open Inference Protocol v2), health, metrics, and the admin API \
                       (services, versions, deployments, rollback, canaries, access, scenarios, artifacts) of one Switchyard node."
    ),
    tags(
        (name = "predict", description = "The native prediction API: every answer names the generation that produced it"),
        (name = "oip", description = "Open Inference Protocol v2 (KServe, Triton): a model is a service, a model version is a version"),
        (name = "node", description = "Health and metrics"),
        (name = "services", description = "The registry: services and their immutable versions"),
        (name = "deployments", description = "What serves live traffic: deploy, roll back, history, monitoring, reports"),
        (name = "canary", description = "Progressive rollouts with gates"),
        (name = "access", description = "Who may call a deployment's prediction API"),
        (name = "capture", description = "Traffic capture (sampled requests and answers) and replay of captured requests through another version"),
        (name = "scenarios", description = "Scheduled or manual runs: retrain, create a version, update a deployment"),
        (name = "people", description = "Principals of the admin API: roles (optionally scoped to services) and tokens"),
        (name = "approvals", description = "Protected services: deploys and canary starts approved by another principal"),
        (name = "audit", description = "The hash-chained record of every state-changing admin call"),
        (name = "artifacts", description = "The artifact store: where version artifacts live, and unreferenced objects"),
        (name = "notifications", description = "Webhooks told about deploys, rollbacks, canaries and failed scenario runs; their deliveries"),
    ),
    components(schemas(
        super::error::ErrorBody,
        super::error::ErrorObject,
        super::oip::OipErrorBody,
        crate::events::Change,
        // What the console's deploy and canary calls answer (the HTTP routes answer 200/201
        // or 202 with the approval request instead).
        crate::engine::DeployOutcome,
        crate::engine::CanaryOutcome,
        // Run & test's answers (the console runs it; no route does).
        crate::runtest::RunReport,
        crate::runtest::RunProgress,
        // Settings → MLflow (the console's own engine).
        crate::mlflow::settings::MlflowSettings,
        crate::mlflow::settings::MlflowConnect,
        // The console's filter of captured rows (the HTTP route reads it as a query).
        crate::capture::store::RowFilter,
        crate::capture::export::ExportFormat,
    )),
    modifiers(&CommonAnswers),
)]
pub(super) struct ApiDoc;

/// `{service}` in a path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // a document type: the handlers read the path with `PathOf`
pub(super) struct ServicePath {
    service: ServiceName,
}

/// `{service}` and `{version}` in a path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct VersionPath {
    service: ServiceName,
    version: VersionId,
}

/// `{model}` in an Open Inference Protocol path: a service name.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct ModelPath {
    /// The service.
    model: ServiceName,
}

/// `{model}` and `{version}` in an Open Inference Protocol path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct ModelVersionPath {
    /// The service.
    model: ServiceName,
    /// The version; it must be live in the deployment to answer.
    version: VersionId,
}

/// `{name}` in a scenario path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct ScenarioPath {
    name: ScenarioName,
}

/// `{name}` and `{id}` in a scenario run path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct RunPath {
    name: ScenarioName,
    /// The run's number.
    id: i64,
}

/// `{service}` and `{id}` of an API key.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(super) struct KeyPath {
    service: ServiceName,
    /// The key's id.
    id: i64,
}

/// Security scheme names.
pub(super) const ADMIN_TOKEN: &str = "admin_token";
pub(super) const BEARER_KEY: &str = "api_key";
pub(super) const HEADER_KEY: &str = "x_api_key";
pub(super) const BASIC_KEY: &str = "basic";

/// The error answers an operation can give whatever its handler, from where it is:
///
/// | answer | on |
/// |---|---|
/// | 400 | every operation (a path parameter or query that does not decode) |
/// | 401 | admin operations (token) and operations on a deployment (its access mode) |
/// | 404 | operations whose path names something |
/// | 408 | public operations (the request deadline) |
/// | 413 | operations that take a body (the body limit) |
///
/// and the admin token as the security of every admin operation.
/// Open Inference Protocol routes answer them in the protocol's error shape.
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (scheme, security) in [
            (
                ADMIN_TOKEN,
                bearer(
                    "The node's admin token (serve --admin-token-file: the bootstrap principal 'admin') or a \
                     principal's token; none on a loopback node without an admin token",
                ),
            ),
            (BEARER_KEY, bearer("An API key of the deployment (auth mode api_key)")),
            (
                BASIC_KEY,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Basic)
                        .description(Some("A key's name and secret (auth mode basic)"))
                        .build(),
                ),
            ),
            (
                HEADER_KEY,
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    super::API_KEY_HEADER,
                    "An API key of the deployment (auth mode api_key)",
                ))),
            ),
        ] {
            components.add_security_scheme(scheme, security);
        }
        for (status, what) in ANSWERS {
            components.responses.insert(answer_name(status, false), error_answer(what, "ErrorBody"));
            components.responses.insert(answer_name(status, true), error_answer(what, "OipErrorBody"));
        }
    }
}

const ANSWERS: [(u16, &str); 6] = [
    (400, "The request is not valid: the message says which part and why"),
    (401, "Missing or wrong credentials (WWW-Authenticate names the scheme)"),
    (403, "The caller's principal lacks the permission this operation declares (x-permission); the message names it"),
    (404, "The service, version, deployment or scenario named does not exist"),
    (408, "The request was not received and answered within the node's request timeout"),
    (413, "The body is over this endpoint's size limit"),
];

fn bearer(description: &str) -> SecurityScheme {
    SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(description)).build())
}

fn answer_name(status: u16, oip: bool) -> String {
    if oip { format!("Oip{status}") } else { format!("Error{status}") }
}

fn error_answer(description: &str, schema: &str) -> RefOr<Response> {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build();
    ResponseBuilder::new().description(description).content("application/json", content).build().into()
}

/// Finishes the generated document: the common error answers, and strict variant schemas.
pub(super) fn complete(doc: &mut OpenApi) {
    add_common_answers(doc);
    inline_tagged_variants(doc);
}

/// utoipa writes a variant of an internally tagged enum (`#[serde(tag = "kind")]`) as
/// `allOf: [{$ref: Variant}, {kind}]`; when `Variant` denies unknown fields
/// (`additionalProperties: false`) no value can match, since `kind` is unknown to it. serde
/// accepts the tag, so the true schema is the variant's object with the tag as one more
/// required property: each such `allOf` is replaced by that.
fn inline_tagged_variants(doc: &mut OpenApi) {
    use utoipa::openapi::schema::{AdditionalProperties, Schema};
    let Some(components) = doc.components.as_mut() else { return };
    let strict_object = |schema: Option<&RefOr<Schema>>| match schema {
        Some(RefOr::T(Schema::Object(o)))
            if matches!(o.additional_properties.as_deref(), Some(AdditionalProperties::FreeForm(false))) =>
        {
            Some(o.clone())
        }
        _ => None,
    };
    let mut replacements = Vec::new();
    for (name, schema) in &components.schemas {
        let RefOr::T(Schema::OneOf(one_of)) = schema else { continue };
        for (i, item) in one_of.items.iter().enumerate() {
            let RefOr::T(Schema::AllOf(all_of)) = item else { continue };
            let [RefOr::Ref(variant), RefOr::T(Schema::Object(tag))] = all_of.items.as_slice() else { continue };
            let variant_name = variant.ref_location.rsplit('/').next().unwrap_or_default();
            if let Some(mut object) = strict_object(components.schemas.get(variant_name)) {
                for (property, property_schema) in &tag.properties {
                    object.properties.insert(property.clone(), property_schema.clone());
                }
                object.required.extend(tag.required.iter().cloned());
                replacements.push((name.clone(), i, object));
            }
        }
    }
    for (name, i, object) in replacements {
        if let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut(&name) {
            one_of.items[i] = RefOr::T(Schema::Object(object));
        }
    }
}

/// Adds the common error answers to every operation of `doc` (after the paths are in).
fn add_common_answers(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let admin = path.starts_with("/admin/");
        let oip = super::oip::is_oip_path(path);
        let names_something = path.contains('{');
        let on_deployment = path.contains("{service}") || path.contains("{model}");
        for op in [&mut item.get, &mut item.put, &mut item.post, &mut item.delete].into_iter().flatten() {
            let wanted = [
                (400, true),
                (401, admin || on_deployment),
                (403, admin),
                (404, names_something),
                (408, !admin),
                (413, op.request_body.is_some()),
            ];
            for (status, applies) in wanted {
                if applies {
                    add_answer(op, status, oip);
                }
            }
            if admin {
                // As `principal::authorize_admin` guards the whole admin router.
                op.security = Some(vec![SecurityRequirement::new(ADMIN_TOKEN, Vec::<String>::new())]);
            }
        }
    }
}

fn add_answer(op: &mut Operation, status: u16, oip: bool) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| Ref::new(format!("#/components/responses/{}", answer_name(status, oip))).into());
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::Value;

    fn doc() -> Value {
        serde_json::to_value(super::super::openapi()).expect("json")
    }

    /// Every `$ref` in `v`.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let paths = doc["paths"].as_object().expect("paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                item.as_object().expect("item").iter().map(move |(method, op)| (path.clone(), method.clone(), op))
            })
            .collect()
    }

    #[test]
    fn every_reference_resolves() {
        let doc = doc();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 50, "{}", all.len());
        for r in all {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external reference {r}"));
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    #[test]
    fn every_operation_is_named_documented_and_parameterised() {
        let doc = doc();
        let schemes: HashSet<&str> =
            doc["components"]["securitySchemes"].as_object().expect("schemes").keys().map(String::as_str).collect();
        let mut ids = HashSet::new();
        for (path, method, op) in operations(&doc) {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{id}: no tag");
            assert!(op["summary"].is_string() || op["description"].is_string(), "{id}: no description");
            let answers = op["responses"].as_object().expect("responses");
            assert!(answers.keys().any(|s| s.starts_with('2')), "{id}: no success answer");
            assert!(answers.contains_key("400"), "{id}: no 400 answer");
            // Each `{param}` of the path is declared as a path parameter, and nothing else is.
            let declared: HashSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| ps.iter().filter(|p| p["in"] == "path").filter_map(|p| p["name"].as_str()).collect())
                .unwrap_or_default();
            let in_path: HashSet<&str> =
                path.split('/').filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}')).collect();
            assert_eq!(declared, in_path, "{id}: path parameters");
            for requirement in op["security"].as_array().into_iter().flatten() {
                for scheme in requirement.as_object().expect("requirement").keys() {
                    assert!(schemes.contains(scheme.as_str()), "{id}: unknown security scheme {scheme}");
                }
            }
            if path.starts_with("/admin/") {
                assert!(answers.contains_key("401"), "{id}: no 401 answer");
                assert_eq!(op["security"], serde_json::json!([{"admin_token": []}]), "{id}: admin token");
            }
        }
        assert!(ids.len() >= 40, "{} operations", ids.len());
    }

    /// The console's `ERROR_CODES` (ui/src/lib/api.ts) are the `errorCodeValues` generated from
    /// this document into ui/src/lib/generated/api.ts (`npm run gen:types`), and those are
    /// exactly the engine's codes.
    #[test]
    fn the_console_knows_every_error_code() {
        let doc = doc();
        let engine: HashSet<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .expect("ErrorCode enum")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let ui = concat!(env!("CARGO_MANIFEST_DIR"), "/ui/src/lib");
        let api = std::fs::read_to_string(format!("{ui}/api.ts")).expect("api.ts");
        assert!(
            api.contains("export const ERROR_CODES: readonly ErrorCode[] = errorCodeValues;"),
            "ERROR_CODES in api.ts"
        );
        let generated = std::fs::read_to_string(format!("{ui}/generated/api.ts")).expect("generated/api.ts");
        let list = generated
            .split("export const errorCodeValues")
            .nth(1)
            .and_then(|t| t.split_once('='))
            .and_then(|(_, t)| t.split(';').next())
            .expect("errorCodeValues in generated/api.ts");
        let console: HashSet<&str> = list
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(engine, console, "the UI's generated types are stale: run `npm run gen:types` in ui/");
    }

    #[test]
    fn errors_have_the_shape_of_their_api() {
        let doc = doc();
        for (path, _, op) in operations(&doc) {
            let oip = super::super::oip::is_oip_path(&path);
            for (status, answer) in op["responses"].as_object().expect("responses") {
                if status.starts_with('4') {
                    let name = answer["$ref"].as_str().map(|r| r.rsplit('/').next().unwrap_or(r).to_owned());
                    let body = match name {
                        Some(n) => {
                            doc["components"]["responses"][&n]["content"]["application/json"]["schema"]["$ref"].clone()
                        }
                        None => answer["content"]["application/json"]["schema"]["$ref"].clone(),
                    };
                    let want = if oip { "#/components/schemas/OipErrorBody" } else { "#/components/schemas/ErrorBody" };
                    // The error body, or a oneOf that includes it (readiness: `ready: false` or an error).
                    let alternatives = body
                        .as_str()
                        .and_then(|r| doc.pointer(r.trim_start_matches('#')))
                        .and_then(|s| s["oneOf"].as_array())
                        .map(|items| items.iter().map(|i| i["$ref"].clone()).collect::<Vec<_>>())
                        .unwrap_or_default();
                    assert!(body == want || alternatives.contains(&Value::from(want)), "{status} of {path}: {body}");
                }
            }
        }
    }
}
