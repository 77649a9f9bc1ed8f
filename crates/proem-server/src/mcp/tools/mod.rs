//! Every core tool (hosted-mcp-tools, spec "Agent tools (hosted MCP)"), one module per resource.
//! Each handler is a thin call into the same engine method its REST route calls.

mod attachments;
mod collect;
mod discovery;
mod issues;
mod prompts;
mod records;
pub mod runs;
mod versions;

use proem_api::ReasonCode;
use proem_api::scope::Permission::*;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::errors::{Failure, reject};
use super::table::ToolAccess::{AnyKey, Discovery, Key};
use super::table::{Invoke, tool_table};

tool_table! {
    "get_catalog" Discovery, READ => discovery::get_catalog,
    "list_prompts" Discovery, READ => discovery::list_prompts,
    "get_prompt" Key(PromptsRead), READ => prompts::get_prompt,
    "list_versions" Key(PromptsRead), READ => versions::list_versions,
    "get_version" Key(PromptsRead), READ => versions::get_version,
    "list_records" Key(RecordsRead), READ => records::list_records,
    "get_record" Key(RecordsRead), READ => records::get_record,
    "list_attachments" Key(AttachmentsRead), READ => attachments::list_attachments,
    "get_attachment" Key(AttachmentsRead), READ => attachments::get_attachment,
    "run_prompt" Key(RunsExecute), RUN => runs::run_prompt,
    "revise_run" Key(RunsExecute), RUN => runs::revise_run,
    "finalize_run" Key(RunsExecute), WRITE => runs::finalize_run,
    "cancel_run" Key(RunsExecute), DELETE => runs::cancel_run,
    "get_run_image" Key(RunsExecute), READ => runs::get_run_image,
    "create_record" Key(RecordsWrite), WRITE => records::create_record,
    "patch_record" Key(RecordsWrite), WRITE => records::patch_record,
    "delete_record" Key(RecordsWrite), DELETE => records::delete_record,
    "create_prompt" Key(PromptsWrite), WRITE => prompts::create_prompt,
    "update_prompt" Key(PromptsWrite), WRITE => prompts::update_prompt,
    "delete_prompt" Key(PromptsWrite), DELETE => prompts::delete_prompt,
    "create_version" Key(PromptsWrite), WRITE => versions::create_version,
    "update_version" Key(PromptsWrite), WRITE => versions::update_version,
    "switch_current_version" Key(PromptsWrite), WRITE => prompts::switch_current_version,
    "delete_version" Key(PromptsWrite), DELETE => versions::delete_version,
    "upload_attachment" Key(AttachmentsWrite), WRITE => attachments::upload_attachment,
    "delete_attachment" Key(AttachmentsWrite), DELETE => attachments::delete_attachment,
    "report_issue" AnyKey, WRITE => issues::report_issue,
}

/// The call of a prompt's synthesized tool: the run_prompt pipeline on that prompt.
pub const EXPOSED_INVOKE: Invoke =
    |call, args| Box::pin(super::dispatch::invoke(call, args, runs::run_exposed));

/// MCP list limits (spec "Cursor pagination"): 1 to 100, default 25; outside is an error, not a
/// clamp.
pub const LIMIT_DEFAULT: i64 = 25;
pub const LIMIT_MAX: i64 = 100;

pub fn limit(raw: Option<i64>) -> Result<u32, Failure> {
    match raw.unwrap_or(LIMIT_DEFAULT) {
        n @ 1..=LIMIT_MAX => Ok(u32::try_from(n).unwrap_or(25)),
        n => Err(reject(
            ReasonCode::ParamOutOfRange,
            "limit",
            format!("limit must be between 1 and {LIMIT_MAX} on MCP tools; got {n}."),
        )),
    }
}

/// The documented shape of a `modelSettings` argument. The value itself is checked by the
/// engine against the live catalog, as on REST.
#[derive(Debug, Deserialize, JsonSchema)]
#[expect(dead_code, reason = "only the schema is used")]
struct ModelSettingsShape {
    /// An opaque model_id from proem_get_catalog (e.g. `gpt54nano_2c6f9b4d`); the marketing
    /// name is not accepted.
    model_id: String,
    /// Values for the model's parameters, each within the catalog's schema for it (allowed
    /// `values`, `min`/`max`). Required; `{}` leaves every parameter at the provider default.
    parameters: serde_json::Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn limits_are_1_to_100_defaulting_to_25() {
        assert_eq!(limit(None).unwrap(), 25);
        assert_eq!(limit(Some(1)).unwrap(), 1);
        assert_eq!(limit(Some(100)).unwrap(), 100);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(101)).is_err());
    }

    #[test]
    fn every_tool_is_unique_prefixed_and_fits_the_name_rule() {
        let mut seen = HashSet::new();
        for t in TOOLS {
            assert!(seen.insert(t.name), "duplicate {}", t.name);
            assert!(t.name.starts_with("proem_"));
            assert!(t.name.len() <= 64);
            let tool = t.tool();
            assert!(
                tool.description.as_deref().unwrap_or("").len() > 60,
                "{} needs a real description",
                t.name
            );
            assert_eq!(tool.input_schema["type"], "object", "{}", t.name);
            assert!(tool.output_schema.is_some(), "{}", t.name);
        }
        assert_eq!(TOOLS.len(), 27);
    }

    #[test]
    fn every_argument_is_described() {
        for t in TOOLS {
            let tool = t.tool();
            if let Some(props) = tool.input_schema["properties"].as_object() {
                for (name, prop) in props {
                    assert!(
                        prop.get("description").is_some(),
                        "{}.{name} has no description",
                        t.name
                    );
                }
            }
        }
    }
}
