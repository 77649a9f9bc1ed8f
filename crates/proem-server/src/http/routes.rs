//! The API's routes and the access each needs (spec "Endpoints"; activity from the key-activity
//! spec). Paths are relative to `/api`.

use proem_api::scope::Permission::*;

use super::table::Access::{Key, SessionOnly};
use super::table::{RouteDef, route_table};
use super::{
    activity, attachments, grants, mcp_tools, me, models, prompts, records, runs, settings,
    versions,
};

route_table! {
    GET "/v2/public/models" Key(ModelsRead) => models::list_models,
    GET "/v2/public/prompts" Key(PromptsRead) => prompts::list_prompts,
    POST "/v2/public/prompts" Key(PromptsWrite) => prompts::create_prompt,
    GET "/v2/public/prompts/{id}" Key(PromptsRead) => prompts::get_prompt,
    PATCH "/v2/public/prompts/{id}" Key(PromptsWrite) => prompts::patch_prompt,
    DELETE "/v2/public/prompts/{id}" Key(PromptsWrite) => prompts::delete_prompt,
    PUT "/v2/public/prompts/{id}/current-version" Key(PromptsWrite) => prompts::switch_current_version,
    POST "/v2/prompts/{id}/mcp-toggle" Key(PromptsWrite) => mcp_tools::toggle_mcp_tool,
    POST "/v2/prompts/{id}/mcp-rename" Key(PromptsWrite) => mcp_tools::rename_mcp_tool,
    GET "/v2/public/prompts/{id}/versions" Key(PromptsRead) => versions::list_versions,
    POST "/v2/public/prompts/{id}/versions" Key(PromptsWrite) => versions::create_version,
    GET "/v2/public/prompts/{id}/versions/{vid}" Key(PromptsRead) => versions::get_version,
    PATCH "/v2/public/prompts/{id}/versions/{vid}" Key(PromptsWrite) => versions::patch_version,
    DELETE "/v2/public/prompts/{id}/versions/{vid}" Key(PromptsWrite) => versions::delete_version,
    GET "/v2/public/prompts/{id}/attachments" Key(AttachmentsRead) => attachments::list_attachments,
    POST "/v2/public/prompts/{id}/attachments" Key(AttachmentsWrite) => attachments::upload_attachment,
    GET "/v2/public/attachments/{id}" Key(AttachmentsRead) => attachments::download_attachment,
    DELETE "/v2/public/attachments/{id}" Key(AttachmentsWrite) => attachments::delete_attachment,
    POST "/v2/public/prompts/{id}/run" Key(RunsExecute) => runs::run_prompt,
    POST "/v2/public/runs/{id}/revise" Key(RunsExecute) => runs::revise_run,
    POST "/v2/public/runs/{id}/finalize" @PerGeneration Key(RunsExecute) => runs::finalize_run,
    GET "/v2/public/runs/{id}" Key(RunsRead) => runs::get_run,
    DELETE "/v2/public/runs/{id}" Key(RunsExecute) => runs::cancel_run,
    GET "/v2/public/runs/{id}/images/{n}" Key(RunsExecute) => runs::get_run_image,
    GET "/v2/public/records" Key(RecordsRead) => records::list_records,
    POST "/v2/public/records" Key(RecordsWrite) => records::create_record,
    GET "/v2/public/records/{id}" Key(RecordsRead) => records::get_record,
    PATCH "/v2/public/records/{id}" Key(RecordsWrite) => records::patch_record,
    DELETE "/v2/public/records/{id}" Key(RecordsWrite) => records::delete_record,
    POST "/v2/public/records/{id}/revise" Key(RunsExecute) => runs::revise_record,
    GET "/v2/public/records/{id}/image" Key(RecordsRead) => records::get_record_image,
    GET "/v2/public/settings" Key(SettingsRead) => settings::get_settings,
    // No permission is held by every key; `settings:read` (the `read` scope) is the closest.
    GET "/v2/public/me" Key(SettingsRead) => me::get_me,
    PATCH "/v2/public/settings" Key(SettingsWrite) => settings::patch_settings,
    GET "/settings/api-keys/activity" Key(ActivityRead) => activity::list_activity,
    GET "/settings/api-keys/activity/stats" Key(ActivityRead) => activity::activity_stats,
    GET "/v2/keys/{key_id}/grants" SessionOnly => grants::manage_grants,
    POST "/v2/keys/{key_id}/grants" SessionOnly => grants::manage_grants,
    DELETE "/v2/keys/{key_id}/grants" SessionOnly => grants::manage_grants,
}
