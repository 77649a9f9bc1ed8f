//! The MCP resources: two guides for agents, served from the binary (`proem://docs/quickstart`
//! and `proem://docs/agent-guide`).

use rmcp::ErrorData as McpError;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents};

const MARKDOWN: &str = "text/markdown";

/// `(uri, name, description, text)` of each guide.
const DOCS: &[(&str, &str, &str, &str)] = &[
    (
        "proem://docs/quickstart",
        "Quickstart",
        "Connect, find a model, create a prompt, run it and read the saved record.",
        include_str!("docs/quickstart.md"),
    ),
    (
        "proem://docs/agent-guide",
        "Agent guide",
        "How to use the Proem tools well: catalog first, autoFinalize, revise versus a new run, tags as generalizable rules, idempotency and recovering from errors.",
        include_str!("docs/agent-guide.md"),
    ),
];

pub fn list() -> Vec<Resource> {
    DOCS.iter()
        .map(|(uri, name, description, text)| {
            Resource::new(*uri, *name)
                .with_description(*description)
                .with_mime_type(MARKDOWN)
                .with_size(u64::try_from(text.len()).unwrap_or(0))
        })
        .collect()
}

pub fn read(uri: &str) -> Result<ReadResourceResult, McpError> {
    DOCS.iter()
        .find(|(u, ..)| *u == uri)
        .map(|(u, _, _, text)| {
            ReadResourceResult::new(vec![
                ResourceContents::text(*text, *u).with_mime_type(MARKDOWN),
            ])
        })
        .ok_or_else(|| {
            McpError::resource_not_found(
                format!("No resource {uri}; list them with resources/list."),
                None,
            )
        })
}
