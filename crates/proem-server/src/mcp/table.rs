//! The tool table, in the style of the REST route table: one row per tool with its name, the
//! access it needs and its behaviour hints; its description and schemas come from the types of
//! its handler. `tools/list` is built from the table, `tools/call` dispatches through it, and the
//! tests iterate it, so a tool cannot exist without a declared permission.

use std::future::Future;
use std::sync::LazyLock;

use futures::future::BoxFuture;
use proem_api::scope::Permission;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::dispatch::Call;
use super::errors::Failure;
use super::schema;

/// What a caller needs to use a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolAccess {
    /// Always allowed: no scope, and per-tool grants never block it (spec "Per-tool grants").
    Discovery,
    /// Any key, subject to per-tool grants.
    AnyKey,
    /// A key granting this permission, subject to per-tool grants.
    Key(Permission),
}

/// What a tool does to the world, for `annotations` and for what the dispatcher adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    /// Calls a model: streams progress and keeps its result for a dropped connection.
    pub run: bool,
}

impl Hints {
    pub const READ: Hints = Hints {
        read_only: true,
        destructive: false,
        idempotent: true,
        run: false,
    };
    pub const WRITE: Hints = Hints {
        read_only: false,
        destructive: false,
        idempotent: false,
        run: false,
    };
    pub const DELETE: Hints = Hints {
        read_only: false,
        destructive: true,
        idempotent: true,
        run: false,
    };
    pub const RUN: Hints = Hints {
        read_only: false,
        destructive: false,
        idempotent: false,
        run: true,
    };
}

/// What a handler produced: the value, the transaction to commit with the idempotency record,
/// and content blocks to put before the JSON text (a run's final text, an image).
pub struct Done<T> {
    pub value: Option<T>,
    pub txn: Option<proem_core::txn::Txn>,
    pub lead: Vec<ContentBlock>,
    /// A result built by the handler itself (runs build theirs where they are stored).
    pub built: Option<CallToolResult>,
}

impl<T> Done<T> {
    pub fn new(value: T) -> Self {
        Self {
            value: Some(value),
            txn: None,
            lead: Vec::new(),
            built: None,
        }
    }

    /// A result the handler built itself.
    pub fn built(result: CallToolResult) -> Self {
        Self {
            value: None,
            txn: None,
            lead: Vec::new(),
            built: Some(result),
        }
    }

    /// `value`, once `txn` commits.
    pub fn commit(txn: proem_core::txn::Txn, value: T) -> Self {
        Self {
            txn: Some(txn),
            ..Self::new(value)
        }
    }

    pub fn with_lead(mut self, lead: Vec<ContentBlock>) -> Self {
        self.lead = lead;
        self
    }
}

/// The outcome of a tool handler.
pub type Outcome<T> = Result<Done<T>, Failure>;

/// A tool handler: an async fn from the call and its typed params to its typed output.
pub trait ToolFn<P, O>: Copy + Send + Sync + 'static {
    fn invoke(self, call: Call, params: P) -> BoxFuture<'static, Outcome<O>>;
}

impl<F, Fut, P, O> ToolFn<P, O> for F
where
    F: Fn(Call, P) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Outcome<O>> + Send + 'static,
    P: DeserializeOwned + JsonSchema + Send + 'static,
    O: Serialize + JsonSchema + Send + 'static,
{
    fn invoke(self, call: Call, params: P) -> BoxFuture<'static, Outcome<O>> {
        Box::pin(self(call, params))
    }
}

/// The type-erased call of a row: parses the arguments and runs the handler.
pub type Invoke = fn(Call, JsonObject) -> BoxFuture<'static, Result<CallToolResult, Failure>>;

/// One tool.
pub struct ToolDef {
    /// `proem_<name>` on the wire.
    pub name: &'static str,
    pub access: ToolAccess,
    pub hints: Hints,
    /// Builds the tool's definition (description, schemas, annotations).
    pub describe: fn() -> Tool,
    pub invoke: Invoke,
}

impl std::fmt::Debug for ToolDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:?})", self.name, self.access)
    }
}

impl ToolDef {
    /// The tool's definition, built once per process.
    pub fn tool(&self) -> Tool {
        static BUILT: LazyLock<std::collections::HashMap<&'static str, Tool>> =
            LazyLock::new(|| {
                super::tools::TOOLS
                    .iter()
                    .map(|t| (t.name, (t.describe)()))
                    .collect()
            });
        BUILT
            .get(self.name)
            .cloned()
            .unwrap_or_else(|| (self.describe)())
    }
}

/// The definition of a tool named `name` whose handler is `_handler`.
pub fn describe<P, O, F>(name: &'static str, access: ToolAccess, hints: Hints, _handler: &F) -> Tool
where
    P: JsonSchema,
    O: JsonSchema,
    F: ToolFn<P, O>,
{
    definition(
        name,
        &schema::description::<P>(),
        access,
        hints,
        schema::input::<P>(),
        schema::output::<O>(),
    )
}

/// A tool definition from its parts (also for synthesized tools).
pub fn definition(
    name: &str,
    description: &str,
    access: ToolAccess,
    hints: Hints,
    input: JsonObject,
    output: JsonObject,
) -> Tool {
    let needs = match access {
        ToolAccess::Discovery => "Always allowed (discovery).".to_owned(),
        ToolAccess::AnyKey => "Any API key may call it.".to_owned(),
        ToolAccess::Key(p) => format!(
            "Needs the `{}` scope (or `{}`).",
            p.scope(),
            p.resource_scope()
        ),
    };
    let title = title_of(name);
    let annotations = ToolAnnotations::with_title(title.clone())
        .read_only(hints.read_only)
        .destructive(hints.destructive)
        .idempotent(hints.idempotent)
        .open_world(hints.run);
    Tool::new(
        name.to_owned(),
        format!("{description}\n\n{needs}"),
        std::sync::Arc::new(input),
    )
    .with_title(title)
    .with_raw_output_schema(std::sync::Arc::new(output))
    .with_annotations(annotations)
}

/// `proem_get_prompt` → `Get prompt`.
fn title_of(name: &str) -> String {
    let words = name
        .strip_prefix(proem_core::mcp::TOOL_PREFIX)
        .unwrap_or(name)
        .replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => words,
    }
}

/// Declares the tool table: `"name" access, HINTS => handler`.
macro_rules! tool_table {
    ($( $name:literal $access:expr, $hints:ident => $handler:path ),* $(,)?) => {
        /// Every core tool.
        pub static TOOLS: &[$crate::mcp::table::ToolDef] = &[
            $( $crate::mcp::table::ToolDef {
                name: concat!("proem_", $name),
                access: $access,
                hints: $crate::mcp::table::Hints::$hints,
                describe: || $crate::mcp::table::describe(
                    concat!("proem_", $name),
                    $access,
                    $crate::mcp::table::Hints::$hints,
                    &$handler,
                ),
                invoke: |call, args| Box::pin($crate::mcp::dispatch::invoke(call, args, $handler)),
            }, )*
        ];
    };
}
pub(crate) use tool_table;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_read_like_words() {
        assert_eq!(title_of("proem_get_prompt"), "Get prompt");
        assert_eq!(title_of("proem_x"), "X");
    }
}
