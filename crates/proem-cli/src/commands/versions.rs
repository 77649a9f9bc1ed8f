//! `proem versions create|list|get|patch`: a prompt's versions. Versions are mutable in place
//! (with an optional `If-Match`); create one when you want an explicit checkpoint.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use proem_api::prompts::{PromptDetail, VersionResponse, VersionSummary};
use reqwest::Method;
use serde_json::{Value, json};

use super::prompts::ModelSettingsArgs;
use super::{ClientOpts, Ctx, Paging, list, more_pages_hint, seg, text_or_file};
use crate::client::Call;
use crate::error::CliError;
use crate::output::{Style, or_dash, relative};

#[derive(Debug, Args)]
pub struct VersionsArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub command: VersionsCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DescriptionMode {
    /// The server writes the description from the prompt text.
    Auto,
    /// You own the description.
    Manual,
}

#[derive(Debug, Subcommand)]
pub enum VersionsCommand {
    /// Append a version (numbered after the highest). Without model flags it keeps the current
    /// version's model settings. Prints the new version id on stdout.
    Create {
        /// The prompt's id (prm_…).
        prompt_id: String,
        /// The prompt text.
        #[arg(long, allow_hyphen_values = true, conflicts_with = "text_file")]
        text: Option<String>,
        /// Read the prompt text from a file (- for stdin).
        #[arg(long, value_name = "FILE")]
        text_file: Option<PathBuf>,
        #[command(flatten)]
        settings: ModelSettingsArgs,
        /// A note on what changed in this version.
        #[arg(long, allow_hyphen_values = true)]
        version_description: Option<String>,
        /// The one-sentence capability description (switches the version to manual mode).
        #[arg(long, allow_hyphen_values = true)]
        description: Option<String>,
        /// Make the new version the prompt's current one.
        #[arg(long)]
        set_current: bool,
    },
    /// List a prompt's versions, highest number first.
    List {
        /// The prompt's id (prm_…).
        prompt_id: String,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one version: settings, description, prompt text and its If-Match etag.
    Get {
        /// The prompt's id (prm_…).
        prompt_id: String,
        /// The version's id (ver_…).
        version_id: String,
    },
    /// Change a version in place (RFC 7396 merge patch).
    Patch {
        /// The prompt's id (prm_…).
        prompt_id: String,
        /// The version's id (ver_…).
        version_id: String,
        /// New prompt text.
        #[arg(long, allow_hyphen_values = true, conflicts_with = "text_file")]
        text: Option<String>,
        /// Read the new prompt text from a file (- for stdin).
        #[arg(long, value_name = "FILE")]
        text_file: Option<PathBuf>,
        #[command(flatten)]
        settings: ModelSettingsArgs,
        #[arg(long, allow_hyphen_values = true)]
        version_description: Option<String>,
        /// The capability description; "" clears it and returns to auto mode.
        #[arg(long, allow_hyphen_values = true)]
        description: Option<String>,
        #[arg(long, value_enum)]
        description_mode: Option<DescriptionMode>,
        /// Apply only if the version is unchanged since you read this etag (`versions get`).
        #[arg(long, value_name = "ETAG")]
        if_match: Option<String>,
    },
}

pub async fn run(args: VersionsArgs) -> anyhow::Result<()> {
    let ctx = Ctx::connect(&args.opts)?;
    match args.command {
        VersionsCommand::Create {
            prompt_id,
            text,
            text_file,
            settings,
            version_description,
            description,
            set_current,
        } => {
            let text = text_or_file(text, text_file.as_deref())?.ok_or_else(|| {
                CliError::usage("give the prompt text with --text or --text-file")
            })?;
            let settings = match settings.to_value()? {
                Some(s) => s,
                None => current_settings(&ctx, &prompt_id).await?,
            };
            let mut body = json!({
                "promptText": text,
                "modelSettings": settings,
                "setAsCurrent": set_current,
            });
            if let Some(d) = version_description {
                body["versionDescription"] = json!(d);
            }
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            let call = Call::new(
                Method::POST,
                format!("/prompts/{}/versions", seg(&prompt_id)),
            )
            .json(body);
            let answer = ctx.send_printing(call).await?;
            if !ctx.out.json {
                let v: VersionResponse = answer.parse()?;
                ctx.out.line(&v.id);
                ctx.out.status(format!(
                    "created version {} of {}{}",
                    v.version_number,
                    v.prompt_id,
                    if v.is_current { " (current)" } else { "" }
                ));
            }
            Ok(())
        }
        VersionsCommand::List { prompt_id, paging } => {
            let call = Call::get(format!("/prompts/{}/versions", seg(&prompt_id)));
            let listed = list::<VersionSummary>(&ctx, call, &paging).await?;
            if !ctx.out.json {
                let rows: Vec<Vec<String>> = listed
                    .items
                    .iter()
                    .map(|v| {
                        vec![
                            v.version_number.to_string(),
                            v.id.clone(),
                            if v.is_current { "*" } else { "" }.to_owned(),
                            relative(&v.updated_at_utc),
                            or_dash(v.description.as_deref()),
                        ]
                    })
                    .collect();
                ctx.out
                    .table(&["#", "ID", "CURRENT", "UPDATED", "DESCRIPTION"], &rows);
                more_pages_hint(&ctx.out, listed.next_cursor.as_deref());
            }
            Ok(())
        }
        VersionsCommand::Get {
            prompt_id,
            version_id,
        } => {
            let call = Call::get(format!(
                "/prompts/{}/versions/{}",
                seg(&prompt_id),
                seg(&version_id)
            ));
            let answer = ctx.send_printing(call).await?;
            if !ctx.out.json {
                show(&ctx, &answer.parse()?);
            }
            Ok(())
        }
        VersionsCommand::Patch {
            prompt_id,
            version_id,
            text,
            text_file,
            settings,
            version_description,
            description,
            description_mode,
            if_match,
        } => {
            let mut patch = serde_json::Map::new();
            if let Some(t) = text_or_file(text, text_file.as_deref())? {
                patch.insert("promptText".into(), json!(t));
            }
            if let Some(s) = settings.to_value()? {
                patch.insert("modelSettings".into(), s);
            }
            if let Some(d) = version_description {
                patch.insert("versionDescription".into(), json!(d));
            }
            if let Some(d) = description {
                patch.insert("description".into(), json!(d));
            }
            if let Some(m) = description_mode {
                let mode = match m {
                    DescriptionMode::Auto => 0,
                    DescriptionMode::Manual => 1,
                };
                patch.insert("descriptionMode".into(), json!(mode));
            }
            if patch.is_empty() {
                return Err(CliError::usage(
                    "nothing to change: give --text, --model, --description, … (see --help)",
                )
                .into());
            }
            let mut call = Call::new(
                Method::PATCH,
                format!("/prompts/{}/versions/{}", seg(&prompt_id), seg(&version_id)),
            )
            .merge_patch(Value::Object(patch));
            if let Some(etag) = if_match {
                call = call.header("if-match", etag);
            }
            let answer = ctx.send_printing(call).await?;
            if !ctx.out.json {
                show(&ctx, &answer.parse()?);
            }
            Ok(())
        }
    }
}

/// The current version's model settings, for a new version that does not name its own.
async fn current_settings(ctx: &Ctx, prompt_id: &str) -> anyhow::Result<Value> {
    let detail: PromptDetail = ctx
        .api
        .send(Call::get(format!("/prompts/{}", seg(prompt_id))))
        .await?
        .parse()?;
    detail
        .current_version
        .map(|v| v.model_settings)
        .ok_or_else(|| {
            CliError::usage(format!(
                "{prompt_id} has no current version to take model settings from: give --model"
            ))
            .into()
        })
}

fn show(ctx: &Ctx, v: &VersionResponse) {
    let out = &ctx.out;
    out.line(format!(
        "{}  ({}){}",
        out.paint(Style::Bold, &format!("version {}", v.version_number)),
        v.id,
        if v.is_current { " · current" } else { "" }
    ));
    out.line(format!("prompt: {}", v.prompt_id));
    out.line(format!("model settings: {}", v.model_settings));
    out.line(format!(
        "description: {} ({})",
        or_dash(v.description.as_deref()),
        if v.description_mode == 0 {
            "auto"
        } else {
            "manual"
        }
    ));
    if let Some(d) = &v.version_description {
        out.line(format!("version note: {d}"));
    }
    out.line(format!(
        "updated {} · etag {}",
        relative(&v.updated_at_utc),
        v.etag
    ));
    out.line("");
    out.line(v.prompt_text.trim_end());
}
