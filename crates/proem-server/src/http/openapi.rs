//! The OpenAPI 3.1 document (`GET /openapi.json`) and the reference page that renders it
//! (`GET /docs`), both open and both served from the binary.
//!
//! Operations come from the handlers' `#[utoipa::path]` annotations and schemas from the DTOs'
//! `ToSchema` derives. What the annotations would only repeat is filled in here from the code that
//! decides it: who may call a route comes from the route table, and the problems every
//! authenticated, idempotent or body-reading route can answer come from the middleware and
//! extractors in front of the handlers. The API tests compare the document with the route table
//! both ways, so a route cannot be added or dropped without the document following.

use std::sync::LazyLock;

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use proem_api::ReasonCode;
use proem_api::mcp::{McpToggleRequest, McpToolState};
use proem_api::problem::{PROBLEM_CONTENT_TYPE, Problem};
use proem_api::records::{
    CreateRecordRequest, FinalizeRequest, FinalizeResponse, ImageInput, RecordPatched,
    RecordResponse, ReviseRequest, RunCancelled, RunRequest, RunResponse, Settings, Turn,
};
use proem_core::records::RecordPatch;
use serde_json::json;
use utoipa::openapi::example::{Example, ExampleBuilder};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, Ref, RefOr, Response as ApiResponse, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use super::routes::ROUTES;
use super::settings::SettingsPatch;
use super::table::Access;
use super::{
    activity, attachments, grants, health, mcp_tools, me, models, problems, prompts, records, runs,
    settings, versions,
};

/// Media type of problem documents, for the handlers' annotations.
pub const PROBLEM: &str = PROBLEM_CONTENT_TYPE;

/// The 200 answer of run, revise and record revise: the SSE events of protocol v1 (spec "Event
/// taxonomy"; payloads built in `proem_core::runs::events`).
pub const RUN_EVENTS: &str = "The turn as `text/event-stream`, protocol v1: each frame is an \
`event:` name and one JSON `data:` line, sent as it happens; comment lines keep a quiet stream \
alive. Once the stream has started, failures are events, never HTTP errors. Leaving early stops \
nothing: the turn runs to the end and is stored.\n\n\
- `run_session`, first: `{protocolVersion, runId, turnIndex, modelId, outputModality, \
seededFromRecordId?}` (`seededFromRecordId` on a record revise).\n\
- `client_hint`, right after `run_session` on image-output runs only: `{filter: \
\"partial_image_b64\", reason: \"image_modality_inline_payloads\", canonicalAccess}`: the \
relayed image frames carry base64 images; fetch the bytes from `GET /runs/{runId}/images/{n}` \
instead.\n\
- `response.output_text.delta` and the provider's other progress events, relayed verbatim: \
`delta` is the next piece of output text.\n\
- `run_completed`, the turn succeeded: `{runId, turnIndex, modelId, costMilliCents, \
imageCount}` (`imageCount`: the images this turn made).\n\
- `run_failed`, the turn failed: `{runId, reasonCode, message, charged, costMilliCents?, \
usageLogId?}`; `charged: true` means the provider billed the call anyway.\n\
- `run_replayed`, after `run_session`, ends the stream of a retry with the same \
`Idempotency-Key`: `{runId, turnIndex, modelId, outputModality, state, streamingInProgress, \
recordId?, hint}`; nothing runs again, and both events are a snapshot taken at the original call, \
the same bytes on every retry: poll `GET /runs/{runId}` for the live state.\n\
- `record_finalized`, after `run_completed` when auto-finalize is on: `{runId, recordId, turns, \
costMilliCents}`.\n\
- `record_finalize_failed`, after `run_completed` when the chained finalize failed (the run \
itself succeeded): `{runId, reasonCode, retryable}`; if `retryable`, call \
`POST /runs/{runId}/finalize`.\n\
- `record_finalize_skipped`, after `run_failed` when auto-finalize is on, informational only: \
`{runId, reason: \"run_failed\", reasonCode}`.";

/// The description of a problem response: one line per reason code, each code in backticks so
/// [`Problems`] can attach an example document for it.
pub fn problems(codes: &[ReasonCode]) -> String {
    codes
        .iter()
        .map(|c| format!("`{}`: {}", c.as_str(), c.title()))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The whole document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Proem API",
        version = env!("CARGO_PKG_VERSION"),
        description = "The REST door to Proem, a self-hosted prompt workspace for people and AI \
agents.\n\nEvery route under `/api` needs an API key (`pmk_…`) in `X-API-Key` or \
`Authorization: Bearer`, and the scope named on each operation: the coarse `read` / `execute` / \
`write`, or a resource scope such as `prompts:read`, `prompts:*` or `*`. Every error is an \
`application/problem+json` document whose `reason_code` tells what happened and whose \
`action_hint` what to do next; its `type` URL serves a human page. Lists are cursor-paginated: \
follow `nextCursor` until it is absent. Mutations accept an `Idempotency-Key` header that makes \
retries safe for 24 h. Every response carries `X-Request-Id`."
    ),
    servers((url = "/", description = "This server")),
    paths(
        models::list_models,
        prompts::list_prompts,
        prompts::create_prompt,
        prompts::get_prompt,
        prompts::patch_prompt,
        prompts::delete_prompt,
        prompts::switch_current_version,
        mcp_tools::toggle_mcp_tool,
        mcp_tools::rename_mcp_tool,
        versions::list_versions,
        versions::create_version,
        versions::get_version,
        versions::patch_version,
        versions::delete_version,
        attachments::list_attachments,
        attachments::upload_attachment,
        attachments::download_attachment,
        attachments::delete_attachment,
        runs::run_prompt,
        runs::revise_run,
        runs::finalize_run,
        runs::get_run,
        runs::cancel_run,
        runs::get_run_image,
        runs::revise_record,
        records::list_records,
        records::create_record,
        records::get_record,
        records::patch_record,
        records::delete_record,
        records::get_record_image,
        settings::get_settings,
        settings::patch_settings,
        activity::list_activity,
        activity::activity_stats,
        grants::manage_grants,
        me::get_me,
        health::healthz,
        health::readyz,
        health::metrics,
        problems::problem_page,
        openapi_json,
        docs_page,
    ),
    components(schemas(
        Problem,
        McpToggleRequest,
        McpToolState,
        RunRequest,
        ImageInput,
        ReviseRequest,
        FinalizeRequest,
        FinalizeResponse,
        RunResponse,
        RunCancelled,
        Turn,
        RecordResponse,
        CreateRecordRequest,
        RecordPatch,
        RecordPatched,
        Settings,
        SettingsPatch,
    )),
    modifiers(&SecuritySchemes, &AccessFromRouteTable, &Problems, &UniqueOperationIds),
    tags(
        (name = "models", description = "The live model catalog: ids and settings to paste into `modelSettings`."),
        (name = "prompts", description = "Prompts: list, read, create with a first version, merge-patch, switch the current version, delete."),
        (name = "versions", description = "A prompt's versions: history, read, create, merge-patch with `If-Match`, delete."),
        (name = "attachments", description = "Reference files attached to a prompt: upload, list, download, delete."),
        (name = "runs", description = "Runs: stream a prompt version (SSE), revise it turn by turn, finalize it into a record, poll or cancel it. A record can be revised as a fresh run."),
        (name = "records", description = "Records: finalized runs and manual seed pairs. List with filters, read, create, merge-patch and delete by the key that created them."),
        (name = "settings", description = "The caller's persistent defaults, such as auto-finalize for runs."),
        (name = "activity", description = "What the caller's API keys did, and summary counts."),
        (name = "keys", description = "The calling key: its user, scopes, grants and expiry."),
        (name = "grants", description = "Per-prompt grants of a key. Managed by people from a signed-in session, never by the keys themselves."),
        (name = "service", description = "Open routes: health, metrics, problem pages and this reference."),
    )
)]
pub struct ApiDoc;

/// Built once: the document is a pure function of the code.
static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// The OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    responses((status = 200, description = "This document.", content_type = "application/json")),
)]
pub async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(&DOCUMENT)
}

/// The API reference page.
///
/// A self-contained HTML page that renders `/openapi.json`; it loads nothing from other hosts.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "service",
    responses((status = 200, description = "The reference page.", content_type = "text/html")),
)]
pub async fn docs_page() -> Response {
    let mut response = Html(include_str!("docs.html")).into_response();
    // The page is inline script and style that talks only to this origin; say so to the browser.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; base-uri 'none'; form-action 'none'",
        ),
    );
    response
}

/// `limit` and `cursor` of a list endpoint (spec "Cursor pagination").
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "documents the query that extract::PageQuery reads"
)]
pub struct PageParams {
    /// Page size, 1–500 (default 100). Below 1 is `param_out_of_range`; above 500 is clamped.
    #[param(minimum = 1, default = 100)]
    limit: Option<u32>,
    /// The `nextCursor` of the previous page, unchanged; keep the same filters while following it.
    cursor: Option<String>,
}

/// The `Idempotency-Key` header of a mutating route (spec "Idempotency").
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(
    dead_code,
    reason = "documents the header that middleware::idempotency reads"
)]
pub struct IdempotencyKey {
    /// 1–255 visible ASCII characters without commas, e.g. a fresh UUIDv4. A retry with the same
    /// key and body replays the first answer for 24 h; the same key on a different body is
    /// `idempotency_key_reused`.
    #[param(
        rename = "Idempotency-Key",
        required = false,
        min_length = 1,
        max_length = 255
    )]
    idempotency_key: String,
}

/// The `If-Match` header of `PATCH …/versions/{vid}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(dead_code, reason = "documents the header that extract::IfMatch reads")]
pub struct IfMatch {
    /// The version's `etag`, quoted or bare hex. A mismatch is `precondition_failed`; absent, the
    /// patch applies unconditionally.
    #[param(rename = "If-Match", required = false)]
    if_match: String,
}

/// `POST /prompts/{id}/attachments` as `multipart/form-data`.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the form that attachments::read_upload reads"
)]
pub struct AttachmentForm {
    /// The file. Text up to 5 MB, images (PNG, JPEG, WebP, at least 128×128 px) up to 10 MB.
    #[schema(value_type = String, content_media_type = "application/octet-stream")]
    file: Vec<u8>,
    /// Overrides the file part's own filename.
    filename: Option<String>,
    /// `text` or `image`; inferred from the bytes when absent.
    #[schema(rename = "type")]
    kind: Option<String>,
}

/// The `api_key` and `bearer` schemes: one key, sent either way.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut header = ApiKeyValue::new("X-API-Key");
        header.description = Some("An API key, `pmk_…`.".to_owned());
        components.add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(header)));
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("pmk_…")
                    .description(Some("The same API key as `Authorization: Bearer pmk_…`."))
                    .build(),
            ),
        );
    }
}

/// Security, required scope and the authentication problems of every route in the route table,
/// read from its row. Operations outside the table are open.
struct AccessFromRouteTable;

impl Modify for AccessFromRouteTable {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations_mut(item) {
                let row = path.strip_prefix("/api").and_then(|p| {
                    ROUTES
                        .iter()
                        .find(|r| r.path == p && r.method.as_str() == method)
                });
                let access = match row.map(|r| r.access) {
                    None => json!({ "kind": "open" }),
                    Some(Access::Key(permission)) => {
                        op.security = Some(vec![
                            SecurityRequirement::new("api_key", Vec::<String>::new()),
                            SecurityRequirement::new("bearer", Vec::<String>::new()),
                        ]);
                        let (scope, resource) = (permission.scope(), permission.resource_scope());
                        append_description(
                            op,
                            &format!(
                                "**Requires** an API key with scope `{scope}` (or `{resource}`)."
                            ),
                        );
                        add_problems(
                            op,
                            &[
                                ReasonCode::KeyUnauthorized,
                                ReasonCode::MixedCredentialsKeyMismatch,
                                ReasonCode::ScopeRequired,
                                ReasonCode::RateLimited,
                            ],
                        );
                        json!({ "kind": "key", "scope": scope.as_str(), "resourceScope": resource })
                    }
                    Some(Access::SessionOnly) => {
                        append_description(
                            op,
                            "**Requires** a signed-in web session; API keys are refused.",
                        );
                        add_problems(
                            op,
                            &[ReasonCode::KeyUnauthorized, ReasonCode::ApiKeyNotPermitted],
                        );
                        json!({ "kind": "session" })
                    }
                };
                op.extensions
                    .get_or_insert_with(Default::default)
                    .insert("x-proem-access".to_owned(), access);
            }
        }
    }
}

/// The problems the layers in front of a handler can answer, then an example document (in
/// `components.examples`, by reason code) for every reason code named in a problem response.
struct Problems;

impl Modify for Problems {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let mut used = std::collections::HashSet::new();
        for (path, item) in doc.paths.paths.iter_mut() {
            let api = path.starts_with("/api/");
            for (_, op) in operations_mut(item) {
                if api {
                    // middleware::timeout and the panic catcher cover every API route.
                    add_problems(op, &[ReasonCode::RequestTimeout, ReasonCode::InternalError]);
                }
                let idempotent = op.parameters.iter().flatten().any(
                    |p| matches!(p, RefOr::T(p) if p.name.eq_ignore_ascii_case("Idempotency-Key")),
                );
                if idempotent {
                    add_problems(
                        op,
                        &[
                            ReasonCode::IdempotencyKeyInvalid,
                            ReasonCode::IdempotencyKeyReused,
                            ReasonCode::IdempotencyInFlight,
                            ReasonCode::IdempotencyOutcomeUnknown,
                        ],
                    );
                }
                if op.request_body.is_some() {
                    add_problems(
                        op,
                        &[
                            ReasonCode::InvalidRequest,
                            ReasonCode::RequestTooLarge,
                            ReasonCode::UnsupportedMediaType,
                        ],
                    );
                }
                for response in op.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        used.extend(link_examples(response));
                    }
                }
            }
        }
        let components = doc.components.get_or_insert_with(Default::default);
        for code in used {
            components
                .examples
                .insert(code.as_str().to_owned(), RefOr::T(example(code)));
        }
    }
}

/// OpenAPI wants operation ids unique; one handler serving several methods (the grants routes)
/// gets one operation per method, told apart by a `_<method>` suffix.
struct UniqueOperationIds;

impl Modify for UniqueOperationIds {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let mut seen = std::collections::HashMap::<String, usize>::new();
        for item in doc.paths.paths.values_mut() {
            for (_, op) in operations_mut(item) {
                if let Some(id) = &op.operation_id {
                    *seen.entry(id.clone()).or_default() += 1;
                }
            }
        }
        for item in doc.paths.paths.values_mut() {
            for (method, op) in operations_mut(item) {
                if let Some(id) = &mut op.operation_id
                    && seen.get(id.as_str()).is_some_and(|n| *n > 1)
                {
                    *id = format!("{id}_{}", method.to_ascii_lowercase());
                }
            }
        }
    }
}

/// The operations of a path item with their upper-case methods.
fn operations_mut(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("GET", &mut item.get),
        ("PUT", &mut item.put),
        ("POST", &mut item.post),
        ("DELETE", &mut item.delete),
        ("PATCH", &mut item.patch),
        ("HEAD", &mut item.head),
        ("OPTIONS", &mut item.options),
        ("TRACE", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_mut().map(|op| (method, op)))
    .collect()
}

fn append_description(op: &mut Operation, text: &str) {
    op.description = Some(match op.description.take() {
        Some(d) if !d.is_empty() => format!("{d}\n\n{text}"),
        _ => text.to_owned(),
    });
}

/// Adds `codes` to the problem response of their status, creating it if the handler did not
/// declare one. Codes already listed are left alone.
fn add_problems(op: &mut Operation, codes: &[ReasonCode]) {
    for code in codes {
        let status = code.status().to_string();
        let line = problems(&[*code]);
        let entry = op
            .responses
            .responses
            .entry(status)
            .or_insert_with(|| RefOr::T(problem_response(String::new())));
        let RefOr::T(response) = entry else { continue };
        if !response.content.contains_key(PROBLEM) {
            response
                .content
                .insert(PROBLEM.to_owned(), problem_content());
        }
        if !response
            .description
            .contains(&format!("`{}`", code.as_str()))
        {
            response.description = if response.description.is_empty() {
                line
            } else {
                format!("{}\n\n{line}", response.description)
            };
        }
    }
}

fn problem_response(description: String) -> ApiResponse {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM,
            Content::new(Some(Ref::from_schema_name("Problem"))),
        )
        .build()
}

fn problem_content() -> RefOr<Content> {
    RefOr::T(Content::new(Some(Ref::from_schema_name("Problem"))))
}

/// Points the problem content of `response` at one named example per reason code its
/// description lists, and returns those codes.
fn link_examples(response: &mut ApiResponse) -> Vec<ReasonCode> {
    let codes: Vec<ReasonCode> = response
        .description
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(ReasonCode::from_code)
        .collect();
    if let Some(RefOr::T(content)) = response.content.get_mut(PROBLEM) {
        for code in &codes {
            content.examples.insert(
                code.as_str().to_owned(),
                RefOr::Ref(Ref::new(format!("#/components/examples/{}", code.as_str()))),
            );
        }
    }
    codes
}

/// The example problem document of `code`, built from its row of the reason table so the
/// examples cannot drift from what the server sends.
fn example(code: ReasonCode) -> Example {
    ExampleBuilder::new()
        .summary(code.title())
        .description(code.action_hint())
        .value(Some(json!({
            "type": format!("/problems/{}", code.as_str()),
            "title": code.title(),
            "status": code.status(),
            "detail": code.title(),
            "reason_code": code.as_str(),
            "action_hint": code.action_hint(),
            "request_id": "req_…",
        })))
        .build()
}
