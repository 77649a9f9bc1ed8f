//! `proem_report_issue`: an agent tells the operator about a bug or asks for a feature.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::mcp::dispatch::Call;
use crate::mcp::table::{Done, Outcome};

/// Report a bug in Proem or request a feature. The report is stored for the server's operator;
/// nothing is sent elsewhere. Use it when a tool behaves against its description, an error's
/// action_hint does not help, or a capability you need is missing. Describe what you called
/// (tool and arguments without secrets), what you expected and what happened, including the
/// `request_id` of any problem document.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportIssueParams {
    /// `bug` or `feature_request`; anything else is `invalid_type`.
    #[serde(rename = "type")]
    #[schemars(extend("enum" = ["bug", "feature_request"]))]
    kind: String,
    /// What happened (or what you need), in plain text. Empty is `invalid_report`. At most 64 KB.
    #[serde(default)]
    body: String,
    /// A one-line summary, at most 256 characters.
    #[serde(default)]
    title: Option<String>,
    /// The tool the report is about, e.g. `proem_run_prompt`.
    #[serde(default)]
    tool: Option<String>,
}

/// A stored report.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssueReported {
    /// `iss_…`, to quote to the operator.
    pub issue_id: String,
    /// Always `received`.
    pub status: String,
}

pub async fn report_issue(call: Call, p: ReportIssueParams) -> Outcome<IssueReported> {
    let report = call
        .state
        .engine()
        .report_issue(&call.caller, &p.kind, p.title, &p.body, p.tool)
        .await?;
    Ok(Done::new(IssueReported {
        issue_id: report.id,
        status: "received".to_owned(),
    }))
}
