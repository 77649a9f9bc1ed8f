//! The MCP door's own rules: prompts exposed as synthesized tools (spec changelog v1.3: expose,
//! re-derive the name, the 50-per-user cap, name collisions), issue reports for the operator, and
//! the MCP-only deletes that refuse while a live run uses the prompt or version instead of
//! force-terminating it as REST does (reason-code table, `prompt_referenced_by_active_run`).

use proem_api::ReasonCode;
use proem_api::mcp::McpToolState;
use proem_api::prompts::{PromptDeleted, VersionDeleted};

use crate::auth::Principal;
use crate::engine::Engine;
use crate::store::mcp::{self as rows, IssueReport};
use crate::store::prompts as prompt_rows;
use crate::txn::Txn;
use crate::{Error, Rejection, ids};

/// Every MCP tool name starts with this (hosted-mcp-tools: `proem_<name>`).
pub const TOOL_PREFIX: &str = "proem_";
/// Prompts one user may expose as tools.
pub const TOOL_CAP: i64 = 50;
/// Anthropic's tool-name rule is `^[a-zA-Z0-9_-]{1,64}$`.
pub const TOOL_NAME_MAX: usize = 64;
/// Caps of an issue report.
pub const REPORT_BODY_CAP_BYTES: usize = 64 * 1024;
pub const REPORT_TITLE_CAP_CHARS: usize = 256;

/// A prompt exposed as a tool, ready for `tools/list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposedTool {
    pub prompt_id: String,
    pub prompt_name: String,
    pub tool_name: String,
    /// The current version's capability description.
    pub description: Option<String>,
}

/// The tool name a prompt called `name` derives: `proem_` and the name in lowercase ASCII
/// letters, digits and single underscores; a name with none of those falls back to the id.
pub fn tool_name_for(name: &str, prompt_id: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('_') && !slug.is_empty() {
            slug.push('_');
        }
    }
    let room = TOOL_NAME_MAX - TOOL_PREFIX.len();
    slug.truncate(room);
    let slug = slug.trim_end_matches('_');
    if slug.is_empty() {
        let tail: String = prompt_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return format!("{TOOL_PREFIX}prompt_{}", tail.to_ascii_lowercase());
    }
    format!("{TOOL_PREFIX}{slug}")
}

fn live_runs(code: ReasonCode, what: &str, runs: &[String]) -> Error {
    Rejection::new(
        code,
        format!(
            "Live runs still use this {what}: {}. Finalize (proem_finalize_run) or cancel (proem_cancel_run) them, then delete again.",
            runs.join(", ")
        ),
    )
    .into()
}

impl Engine {
    /// `POST /api/v2/prompts/{id}/mcp-toggle`: exposes or hides the prompt's synthesized tool.
    /// Exposing keeps an existing name (stable across renames) or derives one; `reserved` are the
    /// core tool names a prompt may not take.
    pub async fn set_mcp_exposure(
        &self,
        caller: &Principal,
        prompt_id: &str,
        expose: bool,
        reserved: &[&str],
    ) -> Result<(Txn, McpToolState), Error> {
        let mut tx = Txn::new(self.store.begin().await?);
        rows::lock_user(&mut tx, caller.user_id()).await?;
        let mut prompt = self.lock_prompt(&mut tx, caller, prompt_id).await?;
        if expose && !prompt.expose_as_mcp_tool {
            let others = rows::count_exposed(&mut *tx, caller.user_id(), prompt_id).await?;
            if others >= TOOL_CAP {
                return Err(Rejection::new(
                    ReasonCode::McpToolCapReached,
                    format!(
                        "{others} prompts are already exposed as MCP tools; the cap is {TOOL_CAP}."
                    ),
                )
                .into());
            }
            let name = match prompt.mcp_tool_name.clone() {
                Some(name) => name,
                None => tool_name_for(&prompt.name, &prompt.id),
            };
            self.claim_tool_name(&mut tx, caller, prompt_id, &name, reserved)
                .await?;
            prompt.mcp_tool_name = Some(name);
        }
        if prompt.expose_as_mcp_tool != expose {
            prompt.expose_as_mcp_tool = expose;
            prompt.updated_at = self.store.now_ms().max(prompt.updated_at + 1);
            rows::set_exposure(&mut tx, &prompt).await?;
        }
        Ok((tx, tool_state(&prompt)))
    }

    /// `POST /api/v2/prompts/{id}/mcp-rename`: re-derives the tool name from the prompt's
    /// current name.
    pub async fn rename_mcp_tool(
        &self,
        caller: &Principal,
        prompt_id: &str,
        reserved: &[&str],
    ) -> Result<(Txn, McpToolState), Error> {
        let mut tx = Txn::new(self.store.begin().await?);
        rows::lock_user(&mut tx, caller.user_id()).await?;
        let mut prompt = self.lock_prompt(&mut tx, caller, prompt_id).await?;
        let name = tool_name_for(&prompt.name, &prompt.id);
        if prompt.mcp_tool_name.as_deref() != Some(name.as_str()) {
            self.claim_tool_name(&mut tx, caller, prompt_id, &name, reserved)
                .await?;
            prompt.mcp_tool_name = Some(name);
            prompt.updated_at = self.store.now_ms().max(prompt.updated_at + 1);
            rows::set_exposure(&mut tx, &prompt).await?;
        }
        Ok((tx, tool_state(&prompt)))
    }

    /// Refuses a name that is a core tool's or another live prompt's.
    async fn claim_tool_name(
        &self,
        tx: &mut Txn,
        caller: &Principal,
        prompt_id: &str,
        name: &str,
        reserved: &[&str],
    ) -> Result<(), Error> {
        if reserved.contains(&name) {
            return Err(Rejection::new(
                ReasonCode::ToolNameReserved,
                format!("`{name}` is the name of a built-in tool."),
            )
            .with_param("name", "tool_name_reserved")
            .into());
        }
        if let Some(holder) =
            rows::tool_name_holder(&mut **tx, caller.user_id(), name, prompt_id).await?
        {
            return Err(Rejection::new(
                ReasonCode::ToolNameTaken,
                format!("Prompt {holder} already uses the tool name `{name}`."),
            )
            .with_param("name", "tool_name_taken")
            .into());
        }
        Ok(())
    }

    /// The caller's prompts exposed as tools (a grant-restricted key sees only granted prompts).
    pub async fn exposed_tools(&self, caller: &Principal) -> Result<Vec<ExposedTool>, Error> {
        let restricted = !self.store.key_grants(caller.key_id()).await?.is_empty();
        let rows = rows::exposed_prompts(
            self.store.reader(),
            caller.user_id(),
            restricted.then(|| caller.key_id()),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| ExposedTool {
                prompt_id: r.prompt_id,
                prompt_name: r.name,
                tool_name: r.tool_name,
                description: r.description,
            })
            .collect())
    }

    /// The caller's live prompt exposed as `tool_name`, if any.
    pub async fn prompt_for_tool(
        &self,
        caller: &Principal,
        tool_name: &str,
    ) -> Result<Option<String>, Error> {
        Ok(rows::prompt_by_tool_name(self.store.reader(), caller.user_id(), tool_name).await?)
    }

    /// MCP `delete_prompt`: like REST, but `prompt_referenced_by_active_run` while a live run
    /// uses the prompt, rather than abandoning it.
    pub async fn delete_prompt_unless_running(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<(Txn, PromptDeleted), Error> {
        let prompt = prompt_rows::prompt(self.store.reader(), id)
            .await?
            .filter(|p| p.user_id == caller.user_id())
            .ok_or_else(|| crate::access::prompt_not_found(id))?;
        self.check_grant(caller, id).await?;
        if prompt.deleted_at.is_none() {
            let runs =
                rows::live_runs_of_prompt(self.store.reader(), id, self.store.now_ms()).await?;
            if !runs.is_empty() {
                return Err(live_runs(
                    ReasonCode::PromptReferencedByActiveRun,
                    "prompt",
                    &runs,
                ));
            }
        }
        self.delete_prompt(caller, id).await
    }

    /// MCP `delete_version`: like REST, but `version_referenced_by_active_run` while a live run
    /// pins the version.
    pub async fn delete_version_unless_running(
        &self,
        caller: &Principal,
        prompt_id: &str,
        version_id: &str,
    ) -> Result<(Txn, VersionDeleted), Error> {
        let prompt = self.reach_prompt(caller, prompt_id).await?;
        prompt_rows::version(self.store.reader(), version_id)
            .await?
            .filter(|v| v.prompt_id == prompt.id && v.deleted_at.is_none())
            .ok_or_else(|| crate::versions::version_not_found(version_id))?;
        let runs = rows::live_runs_of_version(self.store.reader(), version_id, self.store.now_ms())
            .await?;
        if !runs.is_empty() {
            return Err(live_runs(
                ReasonCode::VersionReferencedByActiveRun,
                "version",
                &runs,
            ));
        }
        self.delete_version(caller, prompt_id, version_id).await
    }

    /// `proem_report_issue`: stores a bug report or feature request for the operator.
    pub async fn report_issue(
        &self,
        caller: &Principal,
        kind: &str,
        title: Option<String>,
        body: &str,
        tool_name: Option<String>,
    ) -> Result<IssueReport, Error> {
        if kind != "bug" && kind != "feature_request" {
            return Err(Rejection::new(
                ReasonCode::InvalidType,
                format!("type is \"bug\" or \"feature_request\"; got \"{kind}\"."),
            )
            .with_param("type", "not_in_enum")
            .into());
        }
        if body.trim().is_empty() {
            return Err(Rejection::new(
                ReasonCode::InvalidReport,
                "The report body is empty; describe what happened or what you need.",
            )
            .with_param("body", "required")
            .into());
        }
        if body.len() > REPORT_BODY_CAP_BYTES {
            return Err(Rejection::new(
                ReasonCode::FieldTooLarge,
                "The report body is larger than 64 KB.",
            )
            .with_param("body", "too_large")
            .into());
        }
        if title
            .as_ref()
            .is_some_and(|t| t.chars().count() > REPORT_TITLE_CAP_CHARS)
        {
            return Err(Rejection::new(
                ReasonCode::FieldTooLarge,
                "The report title is longer than 256 characters.",
            )
            .with_param("title", "too_large")
            .into());
        }
        let report = IssueReport {
            id: ids::new_id(ids::ISSUE),
            user_id: caller.user_id().to_owned(),
            key_id: Some(caller.key_id().to_owned()),
            kind: kind.to_owned(),
            title: title.filter(|t| !t.trim().is_empty()),
            body: body.to_owned(),
            tool_name,
            created_at: self.store.now_ms(),
        };
        self.store.insert_issue_report(&report).await?;
        tracing::info!(issue.id = %report.id, issue.kind = %report.kind, "issue reported through MCP");
        Ok(report)
    }
}

fn tool_state(p: &crate::store::prompts::PromptRow) -> McpToolState {
    McpToolState {
        prompt_id: p.id.clone(),
        expose_as_mcp_tool: p.expose_as_mcp_tool,
        mcp_tool_name: p.mcp_tool_name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_are_lowercase_ascii_with_single_underscores() {
        assert_eq!(tool_name_for("Clay Cuties", "prm_1"), "proem_clay_cuties");
        assert_eq!(
            tool_name_for("  Article -- summarizer!! ", "prm_1"),
            "proem_article_summarizer"
        );
        assert_eq!(tool_name_for("Résumé 2", "prm_1"), "proem_r_sum_2");
    }

    #[test]
    fn a_name_without_letters_falls_back_to_the_id() {
        assert_eq!(
            tool_name_for("☃☃", "prm_0190abcd-1234-7abc-8def-0123456789ab"),
            "proem_prompt_456789ab"
        );
    }

    #[test]
    fn tool_names_fit_the_64_character_rule() {
        let name = tool_name_for(&"word ".repeat(40), "prm_1");
        assert!(name.len() <= TOOL_NAME_MAX, "{name}");
        assert!(!name.ends_with('_'));
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    }
}
