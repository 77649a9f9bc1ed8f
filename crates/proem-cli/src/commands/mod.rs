//! The client commands: each file holds one resource's subcommands (their flags and help text)
//! and what they do against the REST API. Shared here: the flags every client command takes,
//! the connection of one invocation, and list paging.

pub mod attachments;
pub mod auth;
pub mod config;
pub mod models;
pub mod prompts;
pub mod records;
pub mod runs;
pub mod versions;

use clap::Args;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::{Answer, Api, Call};
use crate::credentials;
use crate::output::Out;

/// Flags every client command takes.
#[derive(Debug, Clone, Default, Args)]
pub struct ClientOpts {
    /// Print the API's JSON and nothing else on stdout (JSON Lines for streams: one
    /// {"event", "data"} object per SSE event, less inline image base64).
    #[arg(long, global = true)]
    pub json: bool,
    /// Idempotency-Key for the command's mutations, to make a manual retry a no-op. Default: a
    /// fresh UUIDv4 per invocation (later mutations of one invocation add .2, .3, …). Read
    /// commands ignore it.
    #[arg(long, global = true, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

/// One invocation's connection and output.
pub struct Ctx {
    pub api: Api,
    pub out: Out,
}

impl Ctx {
    /// Resolves the URL and key (environment, then the saved credentials) and builds the client.
    pub fn connect(opts: &ClientOpts) -> anyhow::Result<Self> {
        let resolved = credentials::resolve()?;
        Ok(Self {
            api: Api::new(&resolved, opts.idempotency_key.clone())?,
            out: Out::new(opts.json),
        })
    }

    /// Sends `call`; under `--json` prints the answer's body as-is.
    pub async fn send_printing(&self, call: Call) -> anyhow::Result<Answer> {
        let answer = self.api.send(call).await?;
        if self.out.json && !answer.body.is_empty() {
            self.out.raw_json(&answer.body);
        }
        Ok(answer)
    }
}

/// `--limit`, `--cursor`, `--all` of a list command.
#[derive(Debug, Clone, Default, Args)]
pub struct Paging {
    /// Page size (1–500; the server's default is 100).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Continue from a page's nextCursor.
    #[arg(long, conflicts_with = "all")]
    pub cursor: Option<String>,
    /// Fetch every page (each of --limit items) and print them as one list.
    #[arg(long)]
    pub all: bool,
}

/// A fetched list: its items and, when more pages exist, the cursor of the next.
pub struct Listed<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Fetches one page, or every page with `--all`; under `--json` prints the API's page as-is (or,
/// with `--all`, the first page with every page's items and no `nextCursor`).
pub async fn list<T: DeserializeOwned>(
    ctx: &Ctx,
    call: Call,
    paging: &Paging,
) -> anyhow::Result<Listed<T>> {
    let call = call
        .query_opt("limit", paging.limit)
        .query_opt("cursor", paging.cursor.as_deref());
    let first = ctx.api.send(call.clone()).await?;
    let mut page: serde_json::Map<String, Value> = first.parse()?;
    let mut items = take_items(&mut page);
    let mut next = take_cursor(&mut page);
    if paging.all {
        while let Some(cursor) = next.take() {
            let mut more: serde_json::Map<String, Value> = ctx
                .api
                .send(call.clone().query("cursor", &cursor))
                .await?
                .parse()?;
            items.extend(take_items(&mut more));
            next = take_cursor(&mut more);
        }
    }
    if ctx.out.json {
        if paging.all {
            let mut merged = page.clone();
            merged.insert("items".to_owned(), Value::Array(items.clone()));
            ctx.out.json_value(&Value::Object(merged));
        } else {
            ctx.out.raw_json(&first.body);
        }
    }
    let typed = items
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<Vec<T>, _>>()
        .map_err(|e| {
            crate::error::CliError::new(
                crate::error::Exit::Other,
                format!("the server's list has an unexpected shape: {e}"),
            )
        })?;
    Ok(Listed {
        items: typed,
        next_cursor: next,
    })
}

fn take_items(page: &mut serde_json::Map<String, Value>) -> Vec<Value> {
    match page.remove("items") {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

fn take_cursor(page: &mut serde_json::Map<String, Value>) -> Option<String> {
    match page.remove("nextCursor") {
        Some(Value::String(c)) => Some(c),
        _ => None,
    }
}

/// Tells a person how to get the next page (stderr, human mode).
pub fn more_pages_hint(out: &Out, next: Option<&str>) {
    if let Some(cursor) = next
        && !out.json
    {
        out.status(format!(
            "more: --cursor {cursor}   (or --all for every page)"
        ));
    }
}

/// Reads a text value given inline or as a file (`-` for stdin).
pub fn text_or_file(
    inline: Option<String>,
    file: Option<&std::path::Path>,
) -> anyhow::Result<Option<String>> {
    use anyhow::Context as _;
    match (inline, file) {
        (Some(text), _) => Ok(Some(text)),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
            Ok(Some(text))
        }
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(Some)
            .with_context(|| format!("cannot read {}", path.display())),
        (None, None) => Ok(None),
    }
}

/// Percent-encodes an id for a URL path segment (ids are plain ASCII; this guards odd input).
pub fn seg(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
