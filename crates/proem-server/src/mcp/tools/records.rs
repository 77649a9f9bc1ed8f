//! Record tools: list and read finalized records, seed a manual example, patch notes, tag, input
//! and output, and the MCP delete (soft and idempotent, spec "Record self-management").

use proem_api::patch::Patch;
use proem_api::prompts::Page;
use proem_api::records::{CreateRecordRequest, RecordPatched, RecordResponse};
use proem_core::records::{RecordPatch, RecordQuery};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::limit;
use crate::mcp::dispatch::Call;
use crate::mcp::table::{Done, Outcome};

/// List finalized records, most recent first, cursor-paginated; filter by prompt, version,
/// source and more. Each record has `inputText` and `outputText` (cut at `maxInputChars` /
/// `maxOutputChars`, default 4096, as are `finalCopiedOutput` and the texts of `turns[]`;
/// `inputTruncated` / `truncated` say so; proem_get_record reads one whole), `notes`, `tag`,
/// `modelId`, token counts, `costMilliCents` (1/1000 cent), `revisionCount`, `editCount`,
/// `source` (`API` for runs by key, `Manual` for proem_create_record) and `turns[]`. To find
/// the record of a run whose result you lost, filter by `runSessionId` or
/// `clientIdempotencyKey`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListRecordsParams {
    /// Only records of this prompt, `prm_…`.
    #[serde(default)]
    prompt_id: Option<String>,
    /// Only records made with this version, `ver_…`.
    #[serde(default)]
    version_id: Option<String>,
    /// Only records from this source: `API`, `Manual`, `App` or `Headless`.
    #[serde(default)]
    source: Option<String>,
    /// Only records created by this key id, `key_…`.
    #[serde(default)]
    created_by: Option<String>,
    /// Only the record of the run started with this idempotency key.
    #[serde(default)]
    client_idempotency_key: Option<String>,
    /// Only the record of this run, `run_…`.
    #[serde(default)]
    run_session_id: Option<String>,
    /// Cut `outputText` at this many characters, 0 to 32768 (default 4096).
    #[serde(default)]
    max_output_chars: Option<i64>,
    /// Cut `inputText` at this many characters, 0 to 32768 (default 4096).
    #[serde(default)]
    max_input_chars: Option<i64>,
    /// Page size, 1 to 100 (default 25); outside that range is `param_out_of_range`.
    #[serde(default)]
    limit: Option<i64>,
    /// The `nextCursor` of the previous page (with the same filters); omit for the first page.
    #[serde(default)]
    cursor: Option<String>,
}

pub async fn list_records(call: Call, p: ListRecordsParams) -> Outcome<Page<RecordResponse>> {
    let limit = limit(p.limit)?;
    let query = RecordQuery {
        prompt_id: p.prompt_id,
        version_id: p.version_id,
        source: p.source,
        created_by: p.created_by,
        client_idempotency_key: p.client_idempotency_key,
        run_id: p.run_session_id,
        max_input_chars: p.max_input_chars,
        max_output_chars: p.max_output_chars,
    };
    let page = call
        .state
        .engine()
        .list_records(&call.caller, query, limit, p.cursor.as_deref())
        .await?;
    Ok(Done::new(page))
}

/// Fetch one record in full: `inputText`, `outputText` / `finalCopiedOutput`, `notes`, `tag`,
/// model, tokens, `costMilliCents`, counts, and `turns[]`: the run (index 0), each revision
/// (`instruction`, `intermediateOutput`, `output`) and at most one trailing edit. Pass a
/// `turns[].index` as `fromTurn` to proem_revise_run, proem_finalize_run or proem_patch_record
/// to rewind.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetRecordParams {
    /// The record's id, `rec_…`.
    record_id: String,
}

pub async fn get_record(call: Call, p: GetRecordParams) -> Outcome<RecordResponse> {
    let record = call
        .state
        .engine()
        .get_record(&call.caller, &p.record_id)
        .await?;
    Ok(Done::new(record))
}

/// Save an input/output pair as a finalized record with no model call and no cost: curated
/// training data, e.g. examples a user and you write together before refining the prompt.
/// `input` and `output` must be non-empty and not whitespace. Text-output prompts only. Pass
/// `idempotencyKey` to make a retry return the original record instead of a duplicate (same
/// key and payload, per user, 24 h; once that record is deleted, a retry creates a new one).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRecordParams {
    /// The prompt the example belongs to, `prm_…`.
    prompt_id: String,
    /// The user input of the example.
    input: String,
    /// The desired output for that input.
    output: String,
    /// A record-level note, optional.
    #[serde(default)]
    notes: Option<String>,
    /// A key that makes retries safe: the same key and payload return the first record.
    #[serde(default)]
    idempotency_key: Option<String>,
}

pub async fn create_record(call: Call, p: CreateRecordParams) -> Outcome<RecordResponse> {
    let req = CreateRecordRequest {
        prompt_id: p.prompt_id,
        input: p.input,
        output: p.output,
        notes: p.notes,
        idempotency_key: p.idempotency_key,
    };
    let (tx, record, _) = call.state.engine().create_record(&call.caller, req).await?;
    Ok(Done::commit(tx, record))
}

/// Change a record this key created, RFC 7396 merge-patch style (omit to leave, `null` to
/// clear). `notes` is a record-level label, always allowed. On run records, writing `output`
/// creates or updates the record's edit (a correction of the model's output); writing the
/// model's own output back removes the edit. `tag` labels that edit: write it as a
/// generalizable rule or vibe that applies to other inputs too ("Less formal", "Remove
/// em-dashes"), not a description of this diff; it feeds prompt refinement and needs an edit
/// (send `output` with it). `fromTurn: N` reverts to turn N and drops later turns; it excludes
/// `output` and `tag`. Manual records allow only `notes`, `input` and `output`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchRecordParams {
    /// The record's id, `rec_…`.
    record_id: String,
    /// A record-level note; `null` clears it.
    #[serde(default)]
    notes: Patch<String>,
    /// The edit's tag, a generalizable rule; `null` clears it.
    #[serde(default)]
    tag: Patch<String>,
    /// The record's input (manual records only).
    #[serde(default)]
    input: Patch<String>,
    /// The corrected output.
    #[serde(default)]
    output: Patch<String>,
    /// Revert to the state before turn N (a `turns[].index`).
    #[serde(default)]
    from_turn: Option<i64>,
}

pub async fn patch_record(call: Call, p: PatchRecordParams) -> Outcome<RecordPatched> {
    let patch = RecordPatch {
        notes: p.notes,
        tag: p.tag,
        input: p.input,
        output: p.output,
        from_turn: p.from_turn.map(serde_json::Value::from),
    };
    let (tx, patched, _) = call
        .state
        .engine()
        .patch_record(&call.caller, &p.record_id, patch)
        .await?;
    Ok(Done::commit(tx, patched))
}

/// Soft-delete a record this key created (records are execute-axis, not write); a sweep
/// hard-deletes it 24 h later. Idempotent: deleting it again answers `deleted` too. A record
/// another key created is `record_not_owned_by_api_key`, deleted or not.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteRecordParams {
    /// The record's id, `rec_…`.
    record_id: String,
}

/// What a delete answers.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordDeleted {
    pub record_id: String,
    /// Always `deleted`.
    pub status: String,
}

pub async fn delete_record(call: Call, p: DeleteRecordParams) -> Outcome<RecordDeleted> {
    let tx = call
        .state
        .engine()
        .soft_delete_record(&call.caller, &p.record_id)
        .await?;
    Ok(Done::commit(
        tx,
        RecordDeleted {
            record_id: p.record_id,
            status: "deleted".to_owned(),
        },
    ))
}
