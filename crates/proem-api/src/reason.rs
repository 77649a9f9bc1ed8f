//! The reason codes of the agent API: every `reason_code` a problem document can carry, with its
//! HTTP status, a one-line title and the action hint that tells a caller (often an agent) what to do next.
//! The table is the single source of truth; the server, the CLI and the docs pages read it.

use serde::{Deserialize, Serialize};

macro_rules! reason_codes {
    ($( $(#[$doc:meta])* $variant:ident = ($code:literal, $status:literal, $title:literal, $hint:literal), )*) => {
        /// Every reason code of the spec's table (spec "Errors") plus Proem's transport-level codes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ReasonCode { $( $(#[$doc])* $variant, )* }

        impl ReasonCode {
            /// All codes, in table order.
            pub const ALL: &'static [ReasonCode] = &[ $( ReasonCode::$variant, )* ];
            /// The wire string, e.g. `key_unauthorized`.
            pub const fn as_str(self) -> &'static str { match self { $( ReasonCode::$variant => $code, )* } }
            /// The HTTP status the code is answered with.
            pub const fn status(self) -> u16 { match self { $( ReasonCode::$variant => $status, )* } }
            /// A short human title (problem document `title`).
            pub const fn title(self) -> &'static str { match self { $( ReasonCode::$variant => $title, )* } }
            /// What the caller should do next (problem document `action_hint`).
            pub const fn action_hint(self) -> &'static str { match self { $( ReasonCode::$variant => $hint, )* } }
            /// Parses a wire string back into a code.
            pub fn from_code(code: &str) -> Option<Self> { Self::ALL.iter().copied().find(|c| c.as_str() == code) }
        }
    };
}

reason_codes! {
    // ── The spec's "Reason codes" table, in its order ──────────────────────────────────────────

    /// Shape error; the `invalid_params` array names each field at fault (a null on a required field is `required_field_clear`).
    InvalidRequest = ("invalid_request", 400, "The request is malformed.",
        "Fix the fields listed in invalid_params and retry."),
    /// A parameter is wrong as a whole: out-of-range limit, wrong type, missing, empty or whitespace-only value.
    InvalidParams = ("invalid_params", 400, "A parameter is invalid.",
        "Correct the parameter named in detail (type, range, or a non-empty, non-whitespace value) and retry."),
    /// The filename has path separators, null bytes, is dots-only or whitespace-only, or has surrounding whitespace.
    InvalidFilename = ("invalid_filename", 400, "The filename is not allowed.",
        "Use a plain trimmed filename such as report.txt: no / or \\, no null bytes, not . or .., no leading or trailing whitespace."),
    /// The uploaded image is smaller than 128x128 px.
    ImageDimensionsTooSmall = ("image_dimensions_too_small", 400, "The image is smaller than 128x128 px.",
        "Resize the image to at least 128x128 px, or use a larger one, and upload it again."),
    /// The uploaded bytes are not PNG, JPEG or WebP.
    InvalidImageFormat = ("invalid_image_format", 400, "The bytes are not a supported image.",
        "Re-encode the file as PNG, JPEG or WebP and upload it again."),
    /// Unknown or inactive `model_id`, or no `parameters` object in the model settings.
    InvalidModelSettings = ("invalid_model_settings", 400, "Model settings reference an unknown or inactive model.",
        "List models via GET /api/v2/public/models, then retry with a current model_id and a { model_id, parameters } object."),
    /// A field exceeds its write cap (name, promptText, modelSettings, attachment sizes).
    FieldTooLarge = ("field_too_large", 413, "A field exceeds its size cap.",
        "Shrink the field named in invalid_params: name at most 256 chars, promptText at most 256 KB, modelSettings at most 64 KB."),
    /// The Idempotency-Key is missing, longer than 255 chars, comma-joined or not visible ASCII.
    IdempotencyKeyInvalid = ("idempotency_key_invalid", 400, "The Idempotency-Key header is invalid.",
        "Send one Idempotency-Key of 1-255 visible-ASCII characters without commas, e.g. a fresh UUIDv4."),
    /// A run or revise request did not ask for streaming.
    StreamRequired = ("stream_required", 400, "The request must ask for streaming.",
        "Include \"stream\": true in the body and read the response as text/event-stream."),
    /// The cursor was tampered with or issued to another user.
    InvalidCursor = ("invalid_cursor", 400, "The cursor is invalid.",
        "Restart pagination without a cursor; pass only nextCursor values this server returned to you."),
    /// The filter parameters changed between pages.
    CursorFilterMismatch = ("cursor_filter_mismatch", 400, "The filters changed mid-pagination.",
        "Keep the same query filters while following nextCursor, or restart from the first page without a cursor."),
    /// The `?persist` query parameter was removed; `/finalize` always commits.
    PersistQueryParamRemoved = ("persist_query_param_removed", 400, "The persist query parameter was removed.",
        "Drop ?persist: /finalize always commits. To undo, call DELETE /api/v2/public/records/{id} within 24h."),
    /// The If-Match token does not match the resource, or is malformed.
    PreconditionFailed = ("precondition_failed", 412, "The If-Match token does not match.",
        "Re-fetch the resource for a fresh updatedAtUtc-derived token and retry with it in If-Match (quoted or bare hex)."),
    /// The run finalized to a record that has since been self-deleted.
    RecordWasDeleted = ("record_was_deleted", 410, "The run's record has been deleted.",
        "Start a new run with POST /api/v2/public/prompts/{id}/run."),
    /// The run session's version snapshot failed to parse (server-side data integrity).
    SnapshotCorrupt = ("snapshot_corrupt", 500, "The run's version snapshot is corrupt.",
        "Start a new run with POST /api/v2/public/prompts/{id}/run."),
    /// The session was reopened more than 100 times via revise after finalize.
    ReopenLimitExceeded = ("reopen_limit_exceeded", 409, "The run was reopened too many times.",
        "Start a new run with POST /api/v2/public/prompts/{id}/run; a run can be reopened at most 100 times."),
    /// An image-edit revision needs a prior image from a completed run.
    NoPriorImageForRevision = ("no_prior_image_for_revision", 409, "There is no prior image to revise.",
        "Run the prompt first (POST /api/v2/public/prompts/{id}/run or proem_run_prompt) to produce a base image, then revise."),
    /// Image-modality runs reject `intermediateOutput`.
    IntermediateOutputNotSupportedImage = ("intermediate_output_not_supported_image", 400, "Image runs do not accept intermediateOutput.",
        "Omit intermediateOutput; image revisions always start from the model's actual prior output."),
    /// `intermediateOutput` exceeds the 32 KB per-turn cap.
    IntermediateOutputTooLarge = ("intermediate_output_too_large", 413, "intermediateOutput exceeds 32 KB.",
        "Shorten intermediateOutput to at most 32 KB and retry."),
    /// `finalText` exceeds the 256 KB cap.
    FinalTextTooLarge = ("final_text_too_large", 413, "finalText exceeds 256 KB.",
        "Shorten finalText to at most 256 KB and retry."),
    /// `notes` exceeds the 64 KB cap.
    NotesTooLarge = ("notes_too_large", 413, "notes exceeds 64 KB.",
        "Shorten notes to at most 64 KB and retry."),
    /// `tag` exceeds the 64 KB cap.
    TagTooLarge = ("tag_too_large", 413, "tag exceeds 64 KB.",
        "Shorten tag to at most 64 KB; a tag is a short generalizable rule such as \"Less formal\"."),
    /// PATCH /records: `input` exceeds the character cap.
    InputTooLarge = ("input_too_large", 413, "The record input is too large.",
        "Shorten input to the cap named in detail and retry the PATCH."),
    /// PATCH /records: `output` exceeds the character cap.
    OutputTooLarge = ("output_too_large", 413, "The record output is too large.",
        "Shorten output to the cap named in detail and retry the PATCH."),
    /// Unexpected server error.
    InternalError = ("internal_error", 500, "An unexpected server error occurred.",
        "Retry; if the error persists, report the request_id to the server operator."),
    /// `/finalize` got a `tag` but no edit delta was produced (`finalText` omitted or equal to the model output).
    TagWithoutDelta = ("tag_without_delta", 400, "The tag has no edit delta to attach to.",
        "Send a finalText that differs from the model output with the tag, use notes for a record-level label, or re-tag later with PATCH /api/v2/public/records/{id}."),
    /// DELETE/PATCH /records/{id} is restricted to the API key that created the record.
    RecordNotOwnedByApiKey = ("record_not_owned_by_api_key", 403, "The record was not created by this API key.",
        "Use the API key that created the record, or change it in the Proem web UI or with `proem admin`."),
    /// DELETE /records/{id} by API key is allowed only in the first 24h after creation.
    RecordSelfDeleteWindowExpired = ("record_self_delete_window_expired", 409, "The 24h self-delete window has passed.",
        "Delete the record in the Proem web UI or with `proem admin` instead."),
    /// A tag was set but no edit delta exists to anchor it.
    RecordNoEditDelta = ("record_no_edit_delta", 409, "The record has no edit delta to tag.",
        "On /finalize include a finalText that differs from the model output; on PATCH /api/v2/public/records/{id} or proem_patch_record send output with the tag."),
    /// patch_record: a tag came with an `output` equal to the current value and no edit delta exists.
    TagRequiresDistinctOutput = ("tag_requires_distinct_output", 400, "The output is unchanged, so there is no edit to tag.",
        "Send an output that differs from the record's current value, or use notes for a label with no edit."),
    /// patch_record: a tag came without `output` and no edit delta exists.
    TagRequiresOutput = ("tag_requires_output", 400, "A tag needs an edit to annotate.",
        "Send output with the tag to create the edit delta first, or use notes for a record-level label."),
    /// patch_record: the `output` reverts to the model output, removing the edit delta the tag needs.
    TagWouldBeLostOnRevert = ("tag_would_be_lost_on_revert", 400, "Reverting removes the edit delta the tag would attach to.",
        "Omit tag to revert cleanly, or send a different output to keep the edit delta and anchor the tag."),
    /// A numeric parameter (e.g. `limit`) is outside its allowed range.
    ParamOutOfRange = ("param_out_of_range", 400, "A numeric parameter is out of range.",
        "Use a value within the bounds named in detail (limit is 1-500 on REST, 1-100 on MCP tools)."),
    /// The key is restricted to a set of prompts that does not include this one.
    GrantRequired = ("grant_required", 403, "This key is not granted access to the prompt.",
        "Use an unrestricted key or one granted this prompt; the user manages grants in the Proem web UI or with `proem admin`, agents do not."),
    /// Retired, never emitted: deleting the current version now switches the current version itself.
    VersionIsCurrent = ("version_is_current", 409, "The version is the prompt's current version.",
        "Switch the current version with PUT /api/v2/public/prompts/{id}/current-version, then delete again."),
    /// Deleting the only remaining version of a prompt.
    CannotDeleteOnlyVersion = ("cannot_delete_only_version", 409, "The only version of a prompt cannot be deleted.",
        "Create another version with POST /api/v2/public/prompts/{id}/versions first, or delete the whole prompt."),
    /// A concurrent request changed version state mid-delete.
    VersionSwitchConflict = ("version_switch_conflict", 409, "The version state changed during the delete.",
        "Retry the delete (DELETE /api/v2/public/prompts/{id}/versions/{vid} or proem_delete_version)."),
    /// An active run session's snapshot references the attachment being deleted.
    AttachmentReferencedByActiveRun = ("attachment_referenced_by_active_run", 409, "An active run still uses this attachment.",
        "Finalize the listed run(s) with POST /api/v2/public/runs/{runId}/finalize, or wait for their 1h TTL to expire, then delete again."),
    /// MCP only: delete_prompt blocked by a non-terminal run session on the prompt.
    PromptReferencedByActiveRun = ("prompt_referenced_by_active_run", 409, "An active run still uses this prompt.",
        "Finalize the listed run(s) with proem_finalize_run, then retry proem_delete_prompt."),
    /// MCP only: delete_version blocked by a non-terminal run session pinning the version.
    VersionReferencedByActiveRun = ("version_referenced_by_active_run", 409, "An active run still uses this version.",
        "Finalize the listed run(s) with proem_finalize_run, then retry proem_delete_version."),
    /// Lifted, never emitted: image-modality runs by API key are supported; kept for old clients.
    ImageRunsNotSupportedV1 = ("image_runs_not_supported_v1", 409, "Image runs were not supported for API keys.",
        "Image-modality runs are supported now; retry the run, upgrading the client if it still expects this code."),
    /// Image-modality runs reject `finalText`; the final output is derived from the image-prompt chain.
    FinalTextNotSupportedImage = ("final_text_not_supported_image", 400, "Image runs do not accept finalText.",
        "Omit finalText; an image record's final output is derived by the server. Use notes for a record-level label."),
    /// The session's total turn data exceeds the 2 MB cap.
    SessionDeltasTooLarge = ("session_deltas_too_large", 413, "The run's turns exceed the 2 MB cap.",
        "Finalize this run with POST /api/v2/public/runs/{runId}/finalize and start a fresh run."),
    /// The upstream model call was billed but the turn could not be persisted (post-upstream cap exceeded).
    CostIncurredNoDeltaPersisted = ("cost_incurred_no_delta_persisted", 413, "The model call was billed but its turn could not be saved.",
        "The charge is logged; finalize the run as it stands or start a fresh run instead of repeating this turn."),
    /// Bad base64 in `images[].data`.
    InvalidImageBase64 = ("invalid_image_base64", 400, "An image's base64 data is invalid.",
        "Send valid standard base64 in images[].data and retry."),
    /// An index is negative (e.g. `?index=` on a record image).
    InvalidIndex = ("invalid_index", 400, "The index must be zero or more.",
        "Pass a non-negative integer in ?index=."),
    /// `?source=` is not one of App, Manual, API, Headless.
    InvalidSource = ("invalid_source", 400, "The record source filter is unknown.",
        "Use one of App, Manual, API or Headless in ?source= (case-insensitive)."),
    /// MCP report_issue: `type` is not "bug" or "feature_request".
    InvalidType = ("invalid_type", 400, "The report type is unknown.",
        "Set type to \"bug\" or \"feature_request\" and call proem_report_issue again."),
    /// MCP report_issue: the report body is empty.
    InvalidReport = ("invalid_report", 400, "The report body is empty.",
        "Write the report text and call proem_report_issue again."),
    /// A revise request needs a non-empty instruction.
    InstructionRequired = ("instruction_required", 400, "A revision needs an instruction.",
        "Send a non-empty instruction in the request body."),
    /// `fromTurn` is not a valid non-negative integer.
    FromTurnInvalid = ("from_turn_invalid", 400, "fromTurn must be a non-negative integer.",
        "Pass fromTurn as an integer taken from turns[].index."),
    /// `fromTurn` exceeds the current turn count.
    FromTurnOutOfRange = ("from_turn_out_of_range", 400, "fromTurn is beyond the run's turns.",
        "Re-read turns[] (GET /api/v2/public/records/{id}) and pass a fromTurn from 0 to turns.length - 2."),
    /// The session and the API key resolve to different users.
    MixedCredentialsPrincipalMismatch = ("mixed_credentials_principal_mismatch", 400, "The session and the API key belong to different users.",
        "Send either the session or the API key, not both, or use credentials of the same user."),
    /// Two API keys that do not match were sent.
    MixedCredentialsKeyMismatch = ("mixed_credentials_key_mismatch", 400, "Two different API keys were sent.",
        "Send one API key, in X-API-Key or Authorization: Bearer, not two different ones."),
    /// The API key is missing, invalid, expired or revoked.
    KeyUnauthorized = ("key_unauthorized", 401, "The API key is missing or invalid.",
        "Send a valid, unrevoked, unexpired key in X-API-Key or Authorization: Bearer; create one with `proem admin key create`."),
    /// The key lacks the scope the endpoint requires.
    ScopeRequired = ("scope_required", 403, "The API key lacks the required scope.",
        "Use a key that has the scope named in detail; create one with `proem admin key create --scopes ...`."),
    /// The endpoint requires a signed-in session, not an API key.
    ApiKeyNotPermitted = ("api_key_not_permitted", 403, "This endpoint needs a signed-in session, not an API key.",
        "Do this in the Proem web UI or with `proem admin`; API keys cannot call this endpoint."),
    /// No prompt with that id is visible to this caller.
    PromptNotFound = ("prompt_not_found", 404, "The prompt was not found.",
        "Check the id; list the prompts this key can see with GET /api/v2/public/prompts."),
    /// No matching version on the prompt (also when revising a record whose version was deleted).
    VersionNotFound = ("version_not_found", 404, "The version was not found.",
        "List versions with GET /api/v2/public/prompts/{id}/versions; if the record's version was deleted, start a fresh run on the current version or seed examples with proem_create_record."),
    /// The prompt's `currentVersionId` points to a deleted version and could not be self-healed.
    CurrentVersionMissing = ("current_version_missing", 409, "The prompt's current version was deleted.",
        "List versions with GET /api/v2/public/prompts/{id}/versions and set one with PUT /api/v2/public/prompts/{id}/current-version, or create one with setAsCurrent: true."),
    /// create_record supports text-modality prompts only.
    ManualRecordModalityNotSupported = ("manual_record_modality_not_supported", 409, "Manual records need a text-output prompt.",
        "Use proem_create_record only on text-modality prompts; run image or structured-output prompts instead."),
    /// create_record: the prompt's model settings are unparseable, so its output modality is unknown.
    ManualRecordModalityUndetermined = ("manual_record_modality_undetermined", 409, "The prompt's output modality cannot be determined.",
        "Fix the prompt's modelSettings with a new version (POST /api/v2/public/prompts/{id}/versions, setAsCurrent: true), then retry."),
    /// create_record: the prompt has reached its per-prompt manual-record cap.
    PromptRecordCapReached = ("prompt_record_cap_reached", 409, "The prompt has reached its manual-record cap.",
        "Delete manual records you no longer need (proem_delete_record) before seeding more examples on this prompt."),
    /// No record with that id is visible to this caller.
    RecordNotFound = ("record_not_found", 404, "The record was not found.",
        "Check the id; list the records this key can see with GET /api/v2/public/records."),
    /// The run expired, never existed, or is not the caller's.
    RunNotFound = ("run_not_found", 404, "The run was not found.",
        "The run expired, was abandoned or is not yours; start a new run with POST /api/v2/public/prompts/{id}/run."),
    /// No attachment with that id is visible.
    AttachmentNotFound = ("attachment_not_found", 404, "The attachment was not found.",
        "Check the id; list a prompt's attachments with GET /api/v2/public/prompts/{id}/attachments."),
    /// The record has no stored images.
    NoImageStored = ("no_image_stored", 404, "The record has no stored images.",
        "Check imageCount on the record (GET /api/v2/public/records/{id}) before fetching images."),
    /// `?index` is past the count of stored images.
    ImageIndexOutOfRange = ("image_index_out_of_range", 404, "There is no image at that index.",
        "Pass a 0-based index below the record's imageCount."),
    /// Defense-in-depth validation refused the stored image path.
    InvalidImageReference = ("invalid_image_reference", 404, "The stored image reference was refused.",
        "Do not retry this image; report the request_id to the server operator."),
    /// The Idempotency-Key was already used with a different body; no replay.
    IdempotencyKeyReused = ("idempotency_key_reused", 409, "The Idempotency-Key was used for a different request.",
        "Mint a new Idempotency-Key for this request; a key replays only the identical request."),
    /// A request with the same Idempotency-Key is still being processed.
    IdempotencyInFlight = ("idempotency_in_flight", 409, "A request with this Idempotency-Key is still running.",
        "Wait Retry-After seconds, then retry with the same key and body."),
    /// Another revise or finalize is in flight on this run.
    SessionBusy = ("session_busy", 409, "Another call is working on this run.",
        "Wait and poll GET /api/v2/public/runs/{runId}; retry once it is Active, without minting a new Idempotency-Key first."),
    /// A rare compare-and-swap race on the run's state.
    SessionNotActive = ("session_not_active", 409, "The run changed state concurrently.",
        "Re-fetch the run with GET /api/v2/public/runs/{runId} and retry if it is Active."),
    /// A finalized session could not be reopened (record deleted, expired, reopen limit reached).
    SessionAlreadyFinalized = ("session_already_finalized", 409, "The run is finalized and cannot be reopened.",
        "Revise the record with POST /api/v2/public/records/{id}/revise if it still exists, or start a new run."),
    /// The run passed its 1h TTL.
    SessionExpired = ("session_expired", 409, "The run expired after 1h of inactivity.",
        "Start a new run with POST /api/v2/public/prompts/{id}/run."),
    /// The run failed and is terminal.
    SessionFailed = ("session_failed", 409, "The run failed and is terminal.",
        "Do not retry this run; read the failure in detail and start a new run."),
    /// The run was abandoned when its API key was revoked.
    SessionAbandoned = ("session_abandoned", 409, "The run was abandoned when its API key was revoked.",
        "Start a new run with a valid key."),
    /// The run has reached the 25-turn cap.
    RevisionChainTooLong = ("revision_chain_too_long", 409, "The run has reached 25 turns.",
        "Rewind with fromTurn to redo a recent turn, or finalize this run and start a new one."),
    /// Another caller holds the per-record rehydrate lock for this record.
    RecordReviseInProgress = ("record_revise_in_progress", 409, "Another caller is revising this record.",
        "Retry POST /api/v2/public/records/{id}/revise after a short backoff."),
    /// The run's snapshot data is unreadable.
    SnapshotModalityUnreadable = ("snapshot_modality_unreadable", 409, "The run's snapshot data is unreadable.",
        "Start a new run with POST /api/v2/public/prompts/{id}/run."),
    /// The finalize transaction failed.
    FinalizeCompletionFailed = ("finalize_completion_failed", 409, "The finalize transaction failed.",
        "Check the run with GET /api/v2/public/runs/{runId}; if it is Active, retry /finalize."),
    /// An unexpected record conflict during finalize; the session was reset to Active.
    FinalizeConflict = ("finalize_conflict", 500, "A record conflict occurred during finalize.",
        "The run was reset to Active; retry POST /api/v2/public/runs/{runId}/finalize."),
    /// The image was generated (and charged) upstream but the blob write failed after retries.
    ImageUploadFailed = ("image_upload_failed", 500, "The generated image could not be stored.",
        "The upstream call was charged; start a new run with a new Idempotency-Key (the same key replays this failure)."),
    /// Upstream produced more than the 16-images-per-turn cap.
    ImageExtractionOverflow = ("image_extraction_overflow", 500, "The model produced more than 16 images.",
        "Ask for fewer images per turn (reduce n) or split the work across runs."),
    /// The run is in a non-interactable terminal state (Expired, Failed or Abandoned).
    RunAlreadyTerminal = ("run_already_terminal", 409, "The run is in a terminal state.",
        "Start a new run with POST /api/v2/public/prompts/{id}/run."),
    /// Concurrent version inserts collided.
    VersionCreateContention = ("version_create_contention", 409, "Another version was created at the same time.",
        "Retry POST /api/v2/public/prompts/{id}/versions."),
    /// The per-prompt or per-user storage cap is reached.
    StorageQuotaExceeded = ("storage_quota_exceeded", 413, "The storage quota is exceeded.",
        "Delete attachments you no longer need (DELETE /api/v2/public/attachments/{id}), or ask the operator for a larger quota."),
    /// The per-key or per-user rate-limit bucket overflowed.
    RateLimited = ("rate_limited", 429, "Too many requests.",
        "Wait for Retry-After seconds; X-RateLimit-Bucket shows whether the key or the user bucket overflowed."),
    /// The endpoint is documented but not implemented in this version.
    NotImplemented = ("not_implemented", 501, "This endpoint is not implemented yet.",
        "See detail for the planned version and any workaround; do not retry."),
    /// The SSE response failed to initialize before the upstream call.
    StreamSetupFailed = ("stream_setup_failed", 500, "The event stream could not be set up.",
        "Retry the request with the same Idempotency-Key."),
    /// A transient idempotency-store race.
    AuthStoreUnavailable = ("auth_store_unavailable", 503, "The idempotency store is briefly unavailable.",
        "Retry after a short backoff with the same Idempotency-Key."),
    /// The process died mid-flight after possibly committing the change; this key replays this body for 24h.
    IdempotencyOutcomeUnknown = ("idempotency_outcome_unknown", 500, "The original request's outcome is unknown.",
        "Check with a GET whether the change landed before any retry; this key replays this answer, and a new key may duplicate the change."),

    // ── MCP codes (hosted-mcp-tools, changelog v1.3) ───────────────────────────────────────────

    /// The key has a per-tool allow-list that does not include this tool.
    ToolGrantRequired = ("tool_grant_required", 403, "This key is not granted this tool.",
        "Use a tool on the key's allow-list or another key; the user manages tool grants in the Proem web UI or with `proem admin`."),
    /// No tool by that name (e.g. a per-prompt tool whose exposure was turned off or whose prompt was deleted).
    UnknownTool = ("unknown_tool", 404, "There is no tool by that name.",
        "Call tools/list again and use a name from the fresh list."),
    /// The account already exposes the maximum of 50 prompts as MCP tools.
    McpToolCapReached = ("mcp_tool_cap_reached", 409, "The account already exposes 50 prompts as MCP tools.",
        "Turn off MCP exposure on a prompt you no longer need, then expose this one."),
    /// The derived tool name is already used by another prompt.
    ToolNameTaken = ("tool_name_taken", 409, "Another prompt already uses this tool name.",
        "Rename the prompt so it derives a different tool name, then rename the tool again."),
    /// The derived tool name is reserved (it clashes with a built-in tool).
    ToolNameReserved = ("tool_name_reserved", 409, "The tool name is reserved.",
        "Rename the prompt so its tool name does not clash with a built-in proem_ tool, then rename the tool again."),
    /// Another key presented the `Mcp-Session-Id`: an MCP session is bound to the key that created it.
    McpSessionNotOwned = ("mcp_session_not_owned", 403, "The MCP session belongs to another key.",
        "Start a new MCP session (initialize without Mcp-Session-Id) with this key; a session is bound to the key that created it."),
    /// No stored result for that session and tool-call id (spec "Differences from local CLI MCP", durable resume).
    McpCallNotFound = ("mcp_call_not_found", 404, "There is no stored result for that tool call.",
        "Check the Mcp-Session-Id and the JSON-RPC id of the call; results are kept for 24 h, for the key that made the call."),

    // ── Proem transport-level codes ────────────────────────────────────────────────────────────

    /// No route matches the path.
    RouteNotFound = ("route_not_found", 404, "There is no such route.",
        "Check the method and path; agent endpoints live under /api/v2/public/."),
    /// The route exists but not with this method.
    MethodNotAllowed = ("method_not_allowed", 405, "The method is not allowed on this route.",
        "Use one of the methods in the Allow header."),
    /// The request body is over the server's body limit.
    RequestTooLarge = ("request_too_large", 413, "The request body is too large.",
        "Send a smaller body; the server's limit is named in detail."),
    /// The request took longer than the server's per-request timeout.
    RequestTimeout = ("request_timeout", 503, "The request took too long.",
        "Retry after a short backoff with the same Idempotency-Key."),
    /// The Content-Type is not one the route accepts.
    UnsupportedMediaType = ("unsupported_media_type", 415, "The Content-Type is not supported.",
        "Send application/json (application/merge-patch+json for PATCH, multipart/form-data for attachment uploads)."),
    /// The server cannot serve requests right now (database unreachable, shutting down).
    ServiceUnavailable = ("service_unavailable", 503, "The service is temporarily unavailable.",
        "Retry after Retry-After seconds, or after a short backoff."),
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::ReasonCode;

    /// The `reason_code` column of the spec's "Reason codes" table, in its order.
    const SPEC_TABLE_CODES: &[&str] = &[
        "invalid_request",
        "invalid_params",
        "invalid_filename",
        "image_dimensions_too_small",
        "invalid_image_format",
        "invalid_model_settings",
        "field_too_large",
        "idempotency_key_invalid",
        "stream_required",
        "invalid_cursor",
        "cursor_filter_mismatch",
        "persist_query_param_removed",
        "precondition_failed",
        "record_was_deleted",
        "snapshot_corrupt",
        "reopen_limit_exceeded",
        "no_prior_image_for_revision",
        "intermediate_output_not_supported_image",
        "intermediate_output_too_large",
        "final_text_too_large",
        "notes_too_large",
        "tag_too_large",
        "input_too_large",
        "output_too_large",
        "internal_error",
        "tag_without_delta",
        "record_not_owned_by_api_key",
        "record_self_delete_window_expired",
        "record_no_edit_delta",
        "tag_requires_distinct_output",
        "tag_requires_output",
        "tag_would_be_lost_on_revert",
        "param_out_of_range",
        "grant_required",
        "version_is_current",
        "cannot_delete_only_version",
        "version_switch_conflict",
        "attachment_referenced_by_active_run",
        "prompt_referenced_by_active_run",
        "version_referenced_by_active_run",
        "image_runs_not_supported_v1",
        "final_text_not_supported_image",
        "session_deltas_too_large",
        "cost_incurred_no_delta_persisted",
        "invalid_image_base64",
        "invalid_index",
        "invalid_source",
        "invalid_type",
        "invalid_report",
        "instruction_required",
        "from_turn_invalid",
        "from_turn_out_of_range",
        "mixed_credentials_principal_mismatch",
        "mixed_credentials_key_mismatch",
        "key_unauthorized",
        "scope_required",
        "api_key_not_permitted",
        "prompt_not_found",
        "version_not_found",
        "current_version_missing",
        "manual_record_modality_not_supported",
        "manual_record_modality_undetermined",
        "prompt_record_cap_reached",
        "record_not_found",
        "run_not_found",
        "attachment_not_found",
        "no_image_stored",
        "image_index_out_of_range",
        "invalid_image_reference",
        "idempotency_key_reused",
        "idempotency_in_flight",
        "session_busy",
        "session_not_active",
        "session_already_finalized",
        "session_expired",
        "session_failed",
        "session_abandoned",
        "revision_chain_too_long",
        "record_revise_in_progress",
        "snapshot_modality_unreadable",
        "finalize_completion_failed",
        "finalize_conflict",
        "image_upload_failed",
        "image_extraction_overflow",
        "run_already_terminal",
        "version_create_contention",
        "storage_quota_exceeded",
        "rate_limited",
        "not_implemented",
        "stream_setup_failed",
        "auth_store_unavailable",
        "idempotency_outcome_unknown",
    ];

    /// Codes Proem adds beyond the table: MCP tool codes and transport-level codes.
    const PROEM_EXTRA_CODES: &[&str] = &[
        "tool_grant_required",
        "unknown_tool",
        "mcp_tool_cap_reached",
        "tool_name_taken",
        "tool_name_reserved",
        "mcp_session_not_owned",
        "mcp_call_not_found",
        "route_not_found",
        "method_not_allowed",
        "request_too_large",
        "request_timeout",
        "unsupported_media_type",
        "service_unavailable",
    ];

    #[test]
    fn every_code_round_trips_through_from_code_and_serde() {
        for &code in ReasonCode::ALL {
            assert_eq!(ReasonCode::from_code(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(
                json,
                format!("\"{}\"", code.as_str()),
                "serde name of {code:?}"
            );
            assert_eq!(serde_json::from_str::<ReasonCode>(&json).unwrap(), code);
            assert_eq!(code.to_string(), code.as_str());
        }
    }

    #[test]
    fn every_code_is_unique() {
        let mut seen = HashSet::new();
        for code in ReasonCode::ALL {
            assert!(
                seen.insert(code.as_str()),
                "duplicate code {}",
                code.as_str()
            );
        }
    }

    #[test]
    fn every_status_is_an_error_status() {
        for code in ReasonCode::ALL {
            assert!(
                (400..=599).contains(&code.status()),
                "{code}: {}",
                code.status()
            );
        }
    }

    #[test]
    fn no_title_or_hint_is_empty() {
        for code in ReasonCode::ALL {
            assert!(!code.title().trim().is_empty(), "{code} has no title");
            assert!(
                !code.action_hint().trim().is_empty(),
                "{code} has no action hint"
            );
        }
    }

    #[test]
    fn hints_name_proem_not_the_other_product() {
        for code in ReasonCode::ALL {
            let text = format!("{} {}", code.title(), code.action_hint()).to_lowercase();
            assert!(
                !text.contains("promethic"),
                "{code} names the other product"
            );
        }
    }

    #[test]
    fn every_code_of_the_spec_table_is_present() {
        for &wire in SPEC_TABLE_CODES {
            assert!(
                ReasonCode::from_code(wire).is_some(),
                "missing spec code {wire}"
            );
        }
    }

    #[test]
    fn the_enum_is_the_spec_table_plus_proem_extras_in_order() {
        let expected: Vec<&str> = SPEC_TABLE_CODES
            .iter()
            .chain(PROEM_EXTRA_CODES)
            .copied()
            .collect();
        let actual: Vec<&str> = ReasonCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(actual, expected);
    }

    #[test]
    fn unknown_code_does_not_parse() {
        assert_eq!(ReasonCode::from_code("no_such_code"), None);
        assert!(serde_json::from_str::<ReasonCode>("\"no_such_code\"").is_err());
    }

    #[test]
    fn field_too_large_is_413() {
        // Spec table says "400/413"; a size cap is a payload-too-large condition.
        assert_eq!(ReasonCode::FieldTooLarge.status(), 413);
    }
}
