//! One `tools/call`, through the same gate as a REST route: resolve the tool (a core tool of the
//! table or a prompt's synthesized tool), take a rate-limit slot of the tool's class, check the
//! scope and the key's per-tool grants, claim the idempotency key of
//! `_meta["proem.dev/idempotency-key"]`, run the handler, then complete or release the claim and
//! write the activity row (and the audit row for tools that change something).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use proem_api::scope::Permission;
use proem_api::{Problem, ReasonCode};
use proem_core::auth::Principal;
use proem_core::ids;
use proem_core::ratelimit::RateClass;
use proem_core::store::mcp::CallKey;
use proem_core::store::{Begin, IdemKey, StoredResponse};
use proem_core::txn::Txn;
use rmcp::ErrorData as McpError;
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject, ProgressToken};
use rmcp::service::{Peer, RequestContext, RoleServer};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::errors::{Failure, error_result, reject, success_result};
use super::table::{Hints, Invoke, ToolAccess, ToolDef, ToolFn};
use super::tools::{self, TOOLS};
use super::web::{NO_SESSION, SESSION_HEADER};
use crate::context::RequestId;
use crate::middleware::guard::{Trail, write_trail};
use crate::state::AppState;

/// Where an MCP client puts an idempotency key (spec "Differences from local CLI MCP").
pub const IDEMPOTENCY_META: &str = "proem.dev/idempotency-key";
/// Content type of a stored run start; its replay reports the run's state.
const RUN_MARKER: &str = "application/x-proem-run";

/// Where progress notifications of a call go.
#[derive(Debug, Clone)]
pub struct Progress {
    pub token: ProgressToken,
    pub peer: Peer<RoleServer>,
}

#[derive(Debug, Default)]
struct Claim {
    /// The idempotency key as stored (with `@gen{N}` for finalize), while this call owns it.
    key: Option<String>,
    /// The key as the client sent it.
    raw: Option<String>,
    completed: bool,
}

/// One tool call as a handler sees it.
#[derive(Clone)]
pub struct Call {
    pub state: AppState,
    pub caller: Principal,
    pub tool: Arc<str>,
    pub request_id: Arc<str>,
    pub session_id: Arc<str>,
    pub call_id: Arc<str>,
    pub progress: Option<Progress>,
    /// The prompt behind a synthesized tool.
    pub exposed_prompt: Option<String>,
    claim: Arc<Mutex<Claim>>,
}

impl Call {
    /// The problem document of `failure`, for this call.
    pub fn problem(&self, failure: Failure) -> Problem {
        failure.problem(self.state.public_url(), &self.request_id)
    }

    /// The idempotency key the client sent, recorded on the run's record.
    pub fn idempotency_key(&self) -> Option<String> {
        self.claim.lock().ok().and_then(|c| c.raw.clone())
    }

    /// Where this call's result is kept for a client whose connection dropped.
    pub fn call_key(&self) -> CallKey<'_> {
        CallKey {
            key_id: self.caller.key_id(),
            session_id: &self.session_id,
            call_id: &self.call_id,
        }
    }

    /// Completes the claim on `tx` with a marker naming the run: the billable work has started,
    /// so a retry reports this run instead of starting another. [`Call::committed`] follows the
    /// commit.
    pub async fn claim_run(&self, tx: &mut Txn, run_id: &str) -> Result<(), Failure> {
        let stored = StoredResponse {
            status: 200,
            headers: vec![("content-type".to_owned(), RUN_MARKER.to_owned())],
            body: json!({ "runId": run_id }).to_string().into_bytes(),
        };
        self.complete_claim(tx, stored).await
    }

    /// Records `stored` as the claim's outcome on `tx`; [`Call::committed`] once `tx` commits.
    async fn complete_claim(&self, tx: &mut Txn, stored: StoredResponse) -> Result<(), Failure> {
        if let Some(key) = self.open_claim() {
            debug_assert!(tx.is_atomic(), "an idempotent call outside a transaction");
            self.state
                .store()
                .idempotency_complete(tx, self.caller.user_id(), &key, &stored)
                .await?;
        }
        Ok(())
    }

    /// The transaction holding the claim's outcome committed: the claim is complete.
    pub fn committed(&self) {
        if let Ok(mut c) = self.claim.lock() {
            c.completed = true;
        }
    }

    /// The owned claim not yet completed, if any.
    fn open_claim(&self) -> Option<String> {
        self.claim
            .lock()
            .ok()
            .filter(|c| !c.completed)
            .and_then(|c| c.key.clone())
    }
}

fn stored_result(result: &CallToolResult) -> StoredResponse {
    StoredResponse {
        status: 200,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: serde_json::to_vec(result).unwrap_or_default(),
    }
}

/// Parses the arguments into `P`, runs `handler` and builds the result; a transaction the
/// handler returns commits together with the idempotency record.
pub async fn invoke<P, O, F>(
    call: Call,
    args: JsonObject,
    handler: F,
) -> Result<CallToolResult, Failure>
where
    P: DeserializeOwned,
    O: serde::Serialize,
    F: ToolFn<P, O>,
{
    let params: P = crate::extract::parse_value(Value::Object(args))?;
    let done = handler.invoke(call.clone(), params).await?;
    let result = match (done.built, &done.value) {
        (Some(result), _) => result,
        (None, value) => {
            let value = serde_json::to_value(value).map_err(|e| {
                proem_core::Error::from(proem_core::store::StoreError::Corrupt(e.to_string()))
            })?;
            success_result(value, done.lead)
        }
    };
    if let Some(mut tx) = done.txn {
        call.complete_claim(&mut tx, stored_result(&result)).await?;
        tx.commit().await?;
        call.committed();
    }
    Ok(result)
}

/// What a tool name resolves to.
enum Target {
    Core(&'static ToolDef),
    Exposed(String),
    Unknown,
}

/// The authenticated caller of an MCP request.
pub fn principal(ctx: &RequestContext<RoleServer>) -> Result<Principal, McpError> {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<Principal>())
        .cloned()
        .ok_or_else(|| {
            McpError::internal_error("the MCP request carries no authenticated key", None)
        })
}

/// `tools/call`.
pub async fn call_tool(
    state: &AppState,
    request: CallToolRequestParams,
    ctx: RequestContext<RoleServer>,
) -> Result<CallToolResult, McpError> {
    let started = Instant::now();
    let caller = principal(&ctx)?;
    let parts = ctx.extensions.get::<http::request::Parts>();
    let request_id = parts
        .and_then(|p| p.extensions.get::<RequestId>())
        .map_or_else(|| Arc::from(ids::new_id(ids::REQUEST)), |r| r.0.clone());
    let session_id: Arc<str> = parts
        .and_then(|p| p.headers.get(SESSION_HEADER))
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| Arc::from(NO_SESSION), Arc::from);
    let idem_raw = ctx
        .meta
        .get(IDEMPOTENCY_META)
        .or_else(|| request.meta.as_ref().and_then(|m| m.get(IDEMPOTENCY_META)))
        .cloned();
    let name = request.name.to_string();
    let args = request.arguments.unwrap_or_default();
    let target = resolve(state, &caller, &name).await;
    let call = Call {
        state: state.clone(),
        caller,
        tool: Arc::from(name.as_str()),
        request_id,
        session_id,
        call_id: Arc::from(ctx.id.to_string()),
        progress: ctx.meta.get_progress_token().map(|token| Progress {
            token,
            peer: ctx.peer.clone(),
        }),
        exposed_prompt: match &target {
            Target::Exposed(prompt) => Some(prompt.clone()),
            _ => None,
        },
        claim: Arc::default(),
    };
    let hints = match &target {
        Target::Core(def) => def.hints,
        Target::Exposed(_) => Hints::RUN,
        Target::Unknown => Hints::READ,
    };
    let result = match gated(&call, target, &args, idem_raw).await {
        Ok(result) => result,
        Err(failure) => {
            let result = error_result(&call.problem(failure));
            if hints.run
                && let Ok(json) = serde_json::to_string(&result)
            {
                // A run that never started: its stored result is this failure.
                let _ = call
                    .state
                    .store()
                    .mcp_call_completed(call.call_key(), &json)
                    .await;
            }
            result
        }
    };
    record(&call, hints, &args, &result, started).await;
    Ok(result)
}

async fn resolve(state: &AppState, caller: &Principal, name: &str) -> Target {
    if let Some(def) = TOOLS.iter().find(|t| t.name == name) {
        return Target::Core(def);
    }
    match state.engine().prompt_for_tool(caller, name).await {
        Ok(Some(prompt)) => Target::Exposed(prompt),
        Ok(None) => Target::Unknown,
        Err(e) => {
            tracing::error!(error = %e, "cannot resolve a synthesized MCP tool");
            Target::Unknown
        }
    }
}

/// Rate limit, scope, per-tool grant, idempotency, then the handler.
async fn gated(
    call: &Call,
    target: Target,
    args: &JsonObject,
    idem_raw: Option<Value>,
) -> Result<CallToolResult, Failure> {
    let (access, hints, invoke): (ToolAccess, Hints, Invoke) = match target {
        Target::Core(def) => (def.access, def.hints, def.invoke),
        Target::Exposed(_) => (
            ToolAccess::Key(Permission::RunsExecute),
            Hints::RUN,
            tools::EXPOSED_INVOKE,
        ),
        Target::Unknown => {
            return Err(reject(
                ReasonCode::UnknownTool,
                "name",
                format!(
                    "No tool named `{}`: it may have been turned off or its prompt deleted. Call tools/list again.",
                    call.tool
                ),
            ));
        }
    };
    take_slot(call, access).await?;
    if let ToolAccess::Key(permission) = access
        && !permission.is_granted_by(&call.caller.key.scopes)
    {
        return Err(reject(
            ReasonCode::ScopeRequired,
            "name",
            format!(
                "{} needs the `{}` scope (or `{}`); the key has {:?}.",
                call.tool,
                permission.scope(),
                permission.resource_scope(),
                call.caller.key.scopes
            ),
        ));
    }
    if access != ToolAccess::Discovery {
        check_tool_grant(call).await?;
    }
    if let Some(raw) = idem_raw
        && !hints.read_only
        && let Some(replayed) = claim(call, &raw, args).await?
    {
        return Ok(replayed);
    }
    if hints.run {
        call.state
            .store()
            .mcp_call_started(call.call_key(), call.caller.user_id(), &call.tool)
            .await?;
    }
    let outcome = invoke(call.clone(), args.clone()).await;
    if let Some(key) = call.open_claim() {
        let store = call.state.store();
        match &outcome {
            Ok(result) if result.is_error != Some(true) => {
                let stored = stored_result(result);
                let mut conn = store.write_connection().await?;
                store
                    .idempotency_complete(&mut conn, call.caller.user_id(), &key, &stored)
                    .await?;
            }
            // Nothing changed: free the key so a corrected retry can use it.
            _ => {
                store
                    .idempotency_release(call.caller.user_id(), &key)
                    .await?
            }
        }
    }
    outcome
}

async fn take_slot(call: &Call, access: ToolAccess) -> Result<(), Failure> {
    let class = match access {
        ToolAccess::Key(p) => RateClass::of(p.scope()),
        ToolAccess::Discovery | ToolAccess::AnyKey => RateClass::Read,
    };
    let state = &call.state;
    let limits = state.config().rate_limits.limits(class);
    let decision = state
        .store()
        .take_rate_slot(call.caller.key_id(), call.caller.user_id(), limits)
        .await?;
    match decision.refusal(state.store().now_ms()) {
        None => Ok(()),
        Some(refusal) => Err(refusal.into()),
    }
}

/// `tool_grant_required` unless the key's allow-list is unset, `["*"]`, or names the tool.
async fn check_tool_grant(call: &Call) -> Result<(), Failure> {
    let Some(allowed) = call.state.store().tool_grants(call.caller.key_id()).await? else {
        return Ok(());
    };
    if allowed.iter().any(|t| t == "*" || **t == *call.tool) {
        return Ok(());
    }
    Err(reject(
        ReasonCode::ToolGrantRequired,
        "name",
        format!(
            "This key's tool allow-list does not include {}; it allows {:?}.",
            call.tool, allowed
        ),
    ))
}

/// Claims the idempotency key; returns the replayed result when the key already finished.
async fn claim(
    call: &Call,
    raw: &Value,
    args: &JsonObject,
) -> Result<Option<CallToolResult>, Failure> {
    let Some(key) = raw.as_str().filter(|k| valid_key(k)) else {
        return Err(reject(
            ReasonCode::IdempotencyKeyInvalid,
            IDEMPOTENCY_META,
            "_meta[\"proem.dev/idempotency-key\"] must be a string of 1 to 255 visible ASCII characters without commas.",
        ));
    };
    let engine = call.state.engine();
    let mut stored_key = key.to_owned();
    let mut route = format!("MCP {}", call.tool);
    let run_id = args.get("runId").and_then(Value::as_str);
    let per_generation = &*call.tool == "proem_finalize_run";
    if per_generation
        && let Some(run_id) = run_id
        && let Ok(Some(generation)) = engine.finalize_scope(&call.caller, run_id).await
    {
        // As on REST: each generation of a run is a fresh boundary, so a reopened run can
        // finalize again.
        stored_key = format!("{key}@gen{generation}");
        route = format!("{route}@gen{generation}");
    }
    let mut hasher = Sha256::new();
    hasher.update(route.as_bytes());
    hasher.update([0]);
    hasher.update(canonical(&Value::Object(args.clone())).as_bytes());
    let hash = proem_core::keys::KeyHash(hasher.finalize().into()).to_hex();
    let lease_ms = i64::try_from(
        call.state
            .config()
            .http
            .request_timeout_secs
            .saturating_mul(2_000),
    )
    .unwrap_or(i64::MAX);
    let unknown = error_result(&call.problem(
        proem_core::Rejection::new(
            ReasonCode::IdempotencyOutcomeUnknown,
            format!("The original call ({route}) died mid-flight; the change may or may not have landed. Verify with a read before any retry."),
        )
        .into(),
    ));
    let begin = call
        .state
        .store()
        .idempotency_begin(
            IdemKey {
                user_id: call.caller.user_id(),
                key: &stored_key,
                route: &route,
                request_hash: &hash,
            },
            lease_ms,
            &serde_json::to_vec(&unknown).unwrap_or_default(),
        )
        .await?;
    match begin {
        Begin::Owner => {
            if let Ok(mut c) = call.claim.lock() {
                c.key = Some(stored_key);
                c.raw = Some(key.to_owned());
            }
            Ok(None)
        }
        Begin::Replay(stored) => {
            if per_generation && let Some(run_id) = run_id {
                engine.check_finalize_replay(&call.caller, run_id).await?;
            }
            if stored
                .headers
                .iter()
                .any(|(n, v)| n == "content-type" && v == RUN_MARKER)
            {
                let run_id = serde_json::from_slice::<Value>(&stored.body)
                    .ok()
                    .and_then(|v| v["runId"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                return Ok(Some(tools::runs::replayed(call, &run_id).await?));
            }
            match serde_json::from_slice::<CallToolResult>(&stored.body) {
                Ok(result) => Ok(Some(result)),
                Err(e) => Err(
                    proem_core::Error::from(proem_core::store::StoreError::Corrupt(format!(
                        "stored MCP result: {e}"
                    )))
                    .into(),
                ),
            }
        }
        Begin::Reused => Err(reject(
            ReasonCode::IdempotencyKeyReused,
            IDEMPOTENCY_META,
            "This idempotency key was used for a different tool call; mint a new one.",
        )),
        Begin::InFlight => Err(reject(
            ReasonCode::IdempotencyInFlight,
            IDEMPOTENCY_META,
            "The original call with this idempotency key is still running; retry in a second.",
        )),
    }
}

/// 1–255 visible ASCII characters without commas, as the REST header.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 255
        && key.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// JSON with object keys sorted at every level, so equal arguments hash alike however a client
/// orders them.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// The activity row of every call and the audit row of calls that change something; content
/// only as presence, length and hash prefix.
async fn record(
    call: &Call,
    hints: Hints,
    args: &JsonObject,
    result: &CallToolResult,
    started: Instant,
) {
    let structured = result.structured_content.as_ref();
    let status = if result.is_error == Some(true) {
        structured
            .and_then(|s| s["status"].as_u64())
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(500)
    } else {
        200
    };
    let prompt_id = call
        .exposed_prompt
        .clone()
        .or_else(|| {
            args.get("promptId")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .or_else(|| {
            structured
                .and_then(|s| s["promptId"].as_str())
                .map(str::to_owned)
        });
    let object_id = ["runId", "recordId", "attachmentId", "versionId"]
        .iter()
        .find_map(|k| args.get(*k).and_then(Value::as_str).map(str::to_owned))
        .or_else(|| prompt_id.clone());
    let change =
        (!hints.read_only).then(|| Some(Bytes::from(serde_json::to_vec(args).unwrap_or_default())));
    let trail = Trail {
        method: "MCP".to_owned(),
        route: format!("MCP {}", call.tool),
        status,
        object_id,
        prompt_id,
        change,
        started,
    };
    write_trail(&call.state, &call.caller, trail, false).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_ignores_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"d":2,"c":3}],"x":"s"}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":"s","y":[1,{"c":3,"d":2}]},"b":1}"#).unwrap();
        assert_eq!(canonical(&a), canonical(&b));
        assert_ne!(canonical(&a), canonical(&json!({"b": 2})));
    }

    #[test]
    fn idempotency_keys_follow_the_header_rules() {
        assert!(valid_key("a"));
        assert!(valid_key(&"k".repeat(255)));
        assert!(!valid_key(""));
        assert!(!valid_key(&"k".repeat(256)));
        assert!(!valid_key("a,b"));
        assert!(!valid_key("has space"));
    }
}
