//! `proem records list|get|create|patch|delete|image`: finalized runs and manual examples,
//! with their turns (run, revisions, edit) (spec "Record DTO turns[]", "Record
//! self-management").

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use proem_api::records::{RecordPatched, RecordResponse};
use reqwest::Method;
use serde_json::{Value, json};

use super::attachments::write_file;
use super::{ClientOpts, Ctx, Paging, list, more_pages_hint, seg};
use crate::client::Call;
use crate::error::CliError;
use crate::output::{Style, cost, excerpt, or_dash, relative};

#[derive(Debug, Args)]
pub struct RecordsArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub command: RecordsCommand,
}

#[derive(Debug, Subcommand)]
pub enum RecordsCommand {
    /// List records, newest first, with optional filters.
    List {
        /// Only this prompt's records.
        #[arg(long = "prompt", value_name = "PROMPT_ID")]
        prompt_id: Option<String>,
        /// Only this version's records.
        #[arg(long, value_name = "VERSION_ID")]
        version_id: Option<String>,
        /// API, App, Manual or Headless.
        #[arg(long)]
        source: Option<String>,
        /// Only records created by this key id.
        #[arg(long, value_name = "KEY_ID")]
        created_by: Option<String>,
        /// Only the record of this run.
        #[arg(long = "run", value_name = "RUN_ID")]
        run_id: Option<String>,
        /// Cut outputText at this many characters (default 4096).
        #[arg(long)]
        max_output_chars: Option<u32>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show a record: input, final output, cost, and its turns.
    Get {
        /// The record's id (rec_…).
        record_id: String,
    },
    /// Create a manual record (an input/output example, no model call). Prints its id.
    Create {
        #[arg(long = "prompt", value_name = "PROMPT_ID")]
        prompt_id: String,
        #[arg(long, allow_hyphen_values = true)]
        input: String,
        #[arg(long, allow_hyphen_values = true)]
        output: String,
        #[arg(long, allow_hyphen_values = true)]
        notes: Option<String>,
    },
    /// Change a record you created with this key (RFC 7396 merge patch): notes, tag, input and
    /// output (manual records), output (creates or updates the edit), or rewind --from-turn.
    Patch {
        /// The record's id (rec_…).
        record_id: String,
        #[arg(long, allow_hyphen_values = true, conflicts_with = "clear_notes")]
        notes: Option<String>,
        #[arg(long)]
        clear_notes: bool,
        #[arg(long, allow_hyphen_values = true, conflicts_with = "clear_tag")]
        tag: Option<String>,
        #[arg(long)]
        clear_tag: bool,
        #[arg(long, allow_hyphen_values = true)]
        input: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        output: Option<String>,
        /// Revert to this turn and drop later edits.
        #[arg(long, allow_negative_numbers = true, value_name = "N", conflicts_with_all = ["output", "tag"])]
        from_turn: Option<i64>,
    },
    /// Delete a record you created with this key, within 24 hours of its creation.
    Delete {
        /// The record's id (rec_…).
        record_id: String,
    },
    /// Download one of a record's images (image-output records only).
    Image {
        /// The record's id (rec_…).
        record_id: String,
        /// Which image: 0 to imageCount - 1, counting every turn's images in turn order.
        #[arg(long, default_value_t = 0)]
        index: u32,
        /// Where to write the image, as stored: PNG, JPEG or WebP (- for stdout, unless it is a
        /// terminal).
        #[arg(long)]
        output: PathBuf,
    },
}

pub async fn run(args: RecordsArgs) -> anyhow::Result<()> {
    let ctx = Ctx::connect(&args.opts)?;
    match args.command {
        RecordsCommand::List {
            prompt_id,
            version_id,
            source,
            created_by,
            run_id,
            max_output_chars,
            paging,
        } => {
            let call = Call::get("/records")
                .query_opt("promptId", prompt_id)
                .query_opt("versionId", version_id)
                .query_opt("source", source)
                .query_opt("createdBy", created_by)
                .query_opt("runSessionId", run_id)
                .query_opt("maxOutputChars", max_output_chars);
            let listed = list::<RecordResponse>(&ctx, call, &paging).await?;
            if !ctx.out.json {
                let rows: Vec<Vec<String>> = listed
                    .items
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.clone(),
                            r.prompt_id.clone(),
                            r.source.clone(),
                            r.turns.len().to_string(),
                            or_dash(r.tag.as_deref()),
                            relative(&r.created_at_utc),
                            match &r.output_text {
                                Some(text) => excerpt(text, 40),
                                None => format!("[{} images]", r.image_count),
                            },
                        ]
                    })
                    .collect();
                ctx.out.table(
                    &[
                        "ID", "PROMPT", "SOURCE", "TURNS", "TAG", "CREATED", "OUTPUT",
                    ],
                    &rows,
                );
                more_pages_hint(&ctx.out, listed.next_cursor.as_deref());
            }
            Ok(())
        }
        RecordsCommand::Get { record_id } => {
            let answer = ctx
                .send_printing(Call::get(format!("/records/{}", seg(&record_id))))
                .await?;
            if !ctx.out.json {
                show(&ctx, &answer.parse()?);
            }
            Ok(())
        }
        RecordsCommand::Create {
            prompt_id,
            input,
            output,
            notes,
        } => {
            let mut body = json!({ "promptId": prompt_id, "input": input, "output": output });
            if let Some(n) = notes {
                body["notes"] = json!(n);
            }
            let answer = ctx
                .send_printing(Call::new(Method::POST, "/records").json(body))
                .await?;
            if !ctx.out.json {
                let r: RecordResponse = answer.parse()?;
                ctx.out.line(&r.id);
                ctx.out
                    .status(format!("created manual record {} on {}", r.id, r.prompt_id));
            }
            Ok(())
        }
        RecordsCommand::Patch {
            record_id,
            notes,
            clear_notes,
            tag,
            clear_tag,
            input,
            output,
            from_turn,
        } => {
            let mut patch = serde_json::Map::new();
            let mut set = |name: &str, value: Option<Value>| {
                if let Some(v) = value {
                    patch.insert(name.to_owned(), v);
                }
            };
            set("notes", notes.map(|n| json!(n)));
            set("notes", clear_notes.then_some(Value::Null));
            set("tag", tag.map(|t| json!(t)));
            set("tag", clear_tag.then_some(Value::Null));
            set("input", input.map(|i| json!(i)));
            set("output", output.map(|o| json!(o)));
            set("fromTurn", from_turn.map(|n| json!(n)));
            if patch.is_empty() {
                return Err(CliError::usage(
                    "nothing to change: give --notes, --tag, --input, --output or --from-turn",
                )
                .into());
            }
            let call = Call::new(Method::PATCH, format!("/records/{}", seg(&record_id)))
                .merge_patch(Value::Object(patch));
            let answer = ctx.send_printing(call).await?;
            if !ctx.out.json {
                let p: RecordPatched = answer.parse()?;
                ctx.out.status(format!(
                    "patched {} · notes: {} · tag: {}",
                    p.id,
                    or_dash(p.notes.as_deref()),
                    or_dash(p.tag.as_deref())
                ));
            }
            Ok(())
        }
        RecordsCommand::Delete { record_id } => {
            let call = Call::new(Method::DELETE, format!("/records/{}", seg(&record_id)));
            ctx.api.send(call).await?;
            if ctx.out.json {
                ctx.out
                    .json_value(&json!({ "recordId": record_id, "status": "deleted" }));
            } else {
                ctx.out.status(format!("deleted {record_id}"));
            }
            Ok(())
        }
        RecordsCommand::Image {
            record_id,
            index,
            output,
        } => {
            let to_stdout = output.as_os_str() == "-";
            if to_stdout && std::io::stdout().is_terminal() {
                return Err(CliError::usage(
                    "an image is not for the terminal: give --output FILE, or pipe stdout",
                )
                .into());
            }
            let call =
                Call::get(format!("/records/{}/image", seg(&record_id))).query("index", index);
            let answer = ctx.api.send(call).await?;
            if to_stdout {
                std::io::stdout().lock().write_all(&answer.body)?;
            } else {
                write_file(&output, &answer.body)?;
                if ctx.out.json {
                    ctx.out.json_value(&json!({
                        "recordId": record_id, "index": index, "path": output.display().to_string(),
                        "contentType": answer.header("content-type"),
                        "sizeBytes": answer.body.len(),
                    }));
                } else {
                    ctx.out.status(format!(
                        "wrote {} bytes to {}",
                        answer.body.len(),
                        output.display()
                    ));
                }
            }
            Ok(())
        }
    }
}

fn show(ctx: &Ctx, r: &RecordResponse) {
    let out = &ctx.out;
    out.line(format!(
        "{}  prompt {} · version {} · {}",
        out.paint(Style::Bold, &r.id),
        r.prompt_id,
        or_dash(r.version_id.as_deref()),
        r.source
    ));
    out.line(format!(
        "created {} · model {} · {} in / {} out tokens · cost {}",
        relative(&r.created_at_utc),
        or_dash(r.model_id.as_deref()),
        r.input_tokens,
        r.output_tokens,
        cost(r.cost_milli_cents)
    ));
    if let Some(run) = &r.run_session_id {
        out.line(format!("run: {run}"));
    }
    if let Some(n) = &r.notes {
        out.line(format!("notes: {n}"));
    }
    if let Some(t) = &r.tag {
        out.line(format!("tag: {t}"));
    }
    if r.image_count > 0 {
        out.line(format!(
            "images: {} (save one with `proem records image {} --index N --output FILE`, N from 0)",
            r.image_count, r.id
        ));
    }
    out.line("");
    out.line(out.paint(Style::Bold, &format!("turns ({})", r.turns.len())));
    for t in &r.turns {
        let mut head = format!("[{}] {}", t.index, t.kind);
        if let Some(i) = &t.instruction {
            head.push_str(&format!(": {i}"));
        }
        if let Some(tag) = &t.tag {
            head.push_str(&format!(" [tag: {tag}]"));
        }
        out.line(out.paint(Style::Cyan, &head));
        if let Some(input) = &t.input {
            out.line(format!("  input:  {}", indent(input)));
        }
        out.line(format!("  output: {}", indent(&t.output)));
    }
    out.line("");
    out.line(out.paint(Style::Bold, "final output"));
    out.line(r.final_copied_output.trim_end());
}

/// Continues multi-line text under a label.
fn indent(text: &str) -> String {
    text.trim_end().replace('\n', "\n          ")
}
