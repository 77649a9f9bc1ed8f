//! `proem run`, `proem revise`, `proem finalize`, `proem cancel`: the run lifecycle (spec "Run
//! lifecycle"). A run streams its output; by default the server saves it as a record
//! (auto-finalize); with `--no-accept` it stays an open run, saved locally as
//! `runs/<runId>.json` so it survives the shell, to revise and finalize later.

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;

use anyhow::Context as _;
use base64::Engine as _;
use clap::Args;
use proem_api::records::{FinalizeResponse, RunCancelled};
use reqwest::Method;
use serde_json::{Value, json};

use super::{ClientOpts, Ctx, seg, text_or_file};
use crate::client::Call;
use crate::credentials::{runs_dir, write_private};
use crate::error::CliError;
use crate::images::{self, OutputDirArgs};
use crate::output::cost;
use crate::stream::{Outcome, conclude, follow};

/// Whether the server saves the run as a record when it completes.
#[derive(Debug, Clone, Args)]
pub struct AcceptArgs {
    /// Do not save a record: keep the run open to revise and finalize later (autoFinalize
    /// false). Saves runs/<runId>.json (mode 0600) in the config dir.
    #[arg(long, conflicts_with = "auto_finalize")]
    pub no_accept: bool,
    /// Save the run as a record when it completes (true) or not (false). Default: your
    /// `auto-finalize-mcp-runs` setting (see `proem config set`), which defaults to true.
    #[arg(long, value_name = "true|false")]
    pub auto_finalize: Option<bool>,
}

impl AcceptArgs {
    fn auto_finalize(&self) -> Option<bool> {
        if self.no_accept {
            Some(false)
        } else {
            self.auto_finalize
        }
    }
}

/// Run a prompt: print the output as it streams (stdout), then the run and record ids (stderr).
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The prompt's id (prm_…).
    pub prompt_id: String,
    /// The user input. Without --input or --input-file, piped stdin is the input.
    #[arg(long, allow_hyphen_values = true, conflicts_with = "input_file")]
    pub input: Option<String>,
    /// Read the user input from a file (- for stdin).
    #[arg(long, value_name = "FILE")]
    pub input_file: Option<PathBuf>,
    /// An input image (PNG, JPEG or WebP); repeatable.
    #[arg(long = "image", value_name = "FILE")]
    pub images: Vec<PathBuf>,
    /// Run this version instead of the current one.
    #[arg(long, value_name = "VERSION_ID")]
    pub version_id: Option<String>,
    #[command(flatten)]
    pub accept: AcceptArgs,
    #[command(flatten)]
    pub output: OutputDirArgs,
}

/// Revise a run's output with an instruction: a run id continues the run (reopening it if it
/// was finalized), a record id (rec_…) starts a new run from the record.
#[derive(Debug, Args)]
pub struct ReviseArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// run_… or rec_….
    pub handle: String,
    /// What to change, e.g. "make it more concise".
    #[arg(long, allow_hyphen_values = true)]
    pub instruction: String,
    /// Your edited version of the previous output, used as the model's context instead of it.
    #[arg(long, allow_hyphen_values = true)]
    pub intermediate_output: Option<String>,
    /// Rewind to this turn (turns[].index) before revising.
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    pub from_turn: Option<i64>,
    #[command(flatten)]
    pub accept: AcceptArgs,
    #[command(flatten)]
    pub output: OutputDirArgs,
}

/// Save a run as a record, optionally with your edited final text, a tag and notes. Prints the
/// record id on stdout.
#[derive(Debug, Args)]
pub struct FinalizeArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The run's id (run_…), as `proem run` printed it.
    pub run_id: String,
    /// Your edited output; differing from the model's, it is saved as an edit.
    #[arg(long, allow_hyphen_values = true, conflicts_with = "final_text_file")]
    pub final_text: Option<String>,
    /// Read the edited output from a file (- for stdin).
    #[arg(long, value_name = "FILE")]
    pub final_text_file: Option<PathBuf>,
    /// A rule for the edit, e.g. "Less formal" (needs --final-text that differs).
    #[arg(long, allow_hyphen_values = true)]
    pub tag: Option<String>,
    /// Free-text notes on the record.
    #[arg(long, allow_hyphen_values = true)]
    pub notes: Option<String>,
    /// Rewind to this turn (turns[].index) before saving.
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    pub from_turn: Option<i64>,
}

/// Abandon an open run: it can no longer be revised or finalized.
#[derive(Debug, Args)]
pub struct CancelArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The run's id (run_…), as `proem run` printed it.
    pub run_id: String,
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let ctx = Ctx::connect(&args.opts)?;
    let input = match text_or_file(args.input, args.input_file.as_deref())? {
        Some(text) => Some(text),
        None => piped_stdin()?,
    };
    let mut images = Vec::new();
    for path in &args.images {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read image {}", path.display()))?;
        images.push(json!({
            "inline": true,
            "base64": base64::engine::general_purpose::STANDARD.encode(bytes),
        }));
    }
    let mut body = json!({ "stream": true, "images": images });
    if let Some(i) = &input {
        body["userInput"] = json!(i);
    }
    if let Some(v) = &args.version_id {
        body["versionId"] = json!(v);
    }
    let auto_finalize = args.accept.auto_finalize();
    let call = Call::new(
        Method::POST,
        format!("/prompts/{}/run", seg(&args.prompt_id)),
    )
    .query_opt("autoFinalize", auto_finalize)
    .json(body);
    let outcome = follow(&ctx, call, "waiting for the first token…").await?;
    save_artifact(&ctx, &outcome, Some(&args.prompt_id), input.as_deref())?;
    finish(&ctx, &outcome, &args.output).await
}

pub async fn revise(args: ReviseArgs) -> anyhow::Result<()> {
    let ctx = Ctx::connect(&args.opts)?;
    let path = if args.handle.starts_with("rec_") {
        format!("/records/{}/revise", seg(&args.handle))
    } else if args.handle.starts_with("run_") {
        format!("/runs/{}/revise", seg(&args.handle))
    } else {
        return Err(CliError::usage(format!(
            "`{}` is neither a run id (run_…) nor a record id (rec_…)",
            args.handle
        ))
        .into());
    };
    let mut body = json!({ "instruction": args.instruction, "stream": true });
    if let Some(o) = args.intermediate_output {
        body["intermediateOutput"] = json!(o);
    }
    if let Some(n) = args.from_turn {
        body["fromTurn"] = json!(n);
    }
    let auto_finalize = args.accept.auto_finalize();
    if let Some(a) = auto_finalize {
        body["autoFinalize"] = json!(a);
    }
    let call = Call::new(Method::POST, path).json(body);
    let outcome = follow(&ctx, call, "revising…").await?;
    save_artifact(&ctx, &outcome, None, None)?;
    finish(&ctx, &outcome, &args.output).await
}

/// Saves the turn's images (`--output-dir`), then reports the outcome. The images are saved even
/// when only the chained finalize failed, and the paths written are reported even when saving
/// one failed.
async fn finish(ctx: &Ctx, outcome: &Outcome, output: &OutputDirArgs) -> anyhow::Result<()> {
    let mut saved = Vec::new();
    let saving = match &output.output_dir {
        Some(dir) => images::save(ctx, outcome, dir, &mut saved).await,
        None => Ok(()),
    };
    conclude(
        ctx,
        outcome,
        output.output_dir.as_ref().map(|_| saved.as_slice()),
    )?;
    saving
}

pub async fn finalize(args: FinalizeArgs) -> anyhow::Result<()> {
    let ctx = Ctx::connect(&args.opts)?;
    let mut body = serde_json::Map::new();
    if let Some(t) = text_or_file(args.final_text, args.final_text_file.as_deref())? {
        body.insert("finalText".into(), json!(t));
    }
    if let Some(t) = args.tag {
        body.insert("tag".into(), json!(t));
    }
    if let Some(n) = args.notes {
        body.insert("notes".into(), json!(n));
    }
    if let Some(n) = args.from_turn {
        body.insert("fromTurn".into(), json!(n));
    }
    let call = Call::new(
        Method::POST,
        format!("/runs/{}/finalize", seg(&args.run_id)),
    )
    .json(Value::Object(body));
    let answer = ctx.send_printing(call).await?;
    let finalized: FinalizeResponse = answer.parse()?;
    update_artifact(&finalized.run_id, |a| {
        a["state"] = json!("Finalized");
        a["recordId"] = json!(finalized.record_id);
    })?;
    if !ctx.out.json {
        ctx.out.line(&finalized.record_id);
        let kinds: Vec<String> = finalized
            .turns
            .iter()
            .map(|t| match &t.tag {
                Some(tag) => format!("{} [{tag}]", t.kind),
                None => t.kind.clone(),
            })
            .collect();
        ctx.out.status(format!(
            "saved {} from {} · {} turns ({}) · cost {}",
            finalized.record_id,
            finalized.run_id,
            finalized.turns.len(),
            kinds.join(", "),
            cost(finalized.cost_milli_cents)
        ));
    }
    Ok(())
}

pub async fn cancel(args: CancelArgs) -> anyhow::Result<()> {
    let ctx = Ctx::connect(&args.opts)?;
    let call = Call::new(Method::DELETE, format!("/runs/{}", seg(&args.run_id)));
    let answer = ctx.send_printing(call).await?;
    let cancelled: RunCancelled = answer.parse()?;
    update_artifact(&cancelled.run_id, |a| a["state"] = json!(cancelled.state))?;
    if !ctx.out.json {
        ctx.out
            .status(format!("{} is now {}", cancelled.run_id, cancelled.state));
    }
    Ok(())
}

/// Piped stdin as the input; nothing when stdin is a terminal (no waiting on the keyboard).
fn piped_stdin() -> anyhow::Result<Option<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    let mut text = String::new();
    stdin
        .lock()
        .read_to_string(&mut text)
        .context("cannot read the input from stdin")?;
    Ok((!text.is_empty()).then_some(text))
}

fn artifact_path(run_id: &str) -> anyhow::Result<PathBuf> {
    Ok(runs_dir()?.join(format!("{}.json", seg(run_id))))
}

/// A completed run left open (`--no-accept`, or auto-finalize off in your settings) is kept as
/// `runs/<runId>.json` so its id and state survive the shell (spec "Run lifecycle").
fn save_artifact(
    ctx: &Ctx,
    outcome: &Outcome,
    prompt_id: Option<&str>,
    input: Option<&str>,
) -> anyhow::Result<()> {
    let Some(run_id) = &outcome.run_id else {
        return Ok(());
    };
    if !outcome.completed || outcome.record_id.is_some() {
        return Ok(());
    }
    let path = artifact_path(run_id)?;
    let mut artifact = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .unwrap_or_else(|| json!({ "runId": run_id }));
    if let Some(p) = prompt_id {
        artifact["promptId"] = json!(p);
    }
    if let Some(i) = input {
        artifact["input"] = json!(i);
    }
    artifact["apiUrl"] = json!(ctx.api.base);
    artifact["state"] = json!("Active");
    artifact["turnIndex"] = json!(outcome.turn_index);
    artifact["modelId"] = json!(outcome.model_id);
    artifact["output"] = json!(outcome.output);
    artifact["costMilliCents"] = json!(outcome.cost_millicents);
    artifact["savedAtUtc"] = json!(now_utc());
    write_private(&path, &serde_json::to_vec_pretty(&artifact)?)?;
    if !ctx.out.json {
        ctx.out.field("saved", path.display().to_string());
    }
    Ok(())
}

/// Updates a saved run artifact, if this machine has one for the run.
fn update_artifact(run_id: &str, change: impl FnOnce(&mut Value)) -> anyhow::Result<()> {
    let path = artifact_path(run_id)?;
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(());
    };
    let Ok(mut artifact) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(());
    };
    change(&mut artifact);
    artifact["savedAtUtc"] = json!(now_utc());
    write_private(&path, &serde_json::to_vec_pretty(&artifact)?)
}

fn now_utc() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
