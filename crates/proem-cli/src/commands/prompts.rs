//! `proem prompts …`: list, read, create (from flags or a YAML manifest whose attachments are
//! uploaded after the prompt exists), merge-patch, delete, switch the current version, delete a
//! version.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use proem_api::attachments::AttachmentResponse;
use proem_api::prompts::{
    CurrentVersion, PromptCreated, PromptDeleted, PromptDetail, PromptSummary, VersionDeleted,
};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::attachments::upload;
use super::{ClientOpts, Ctx, Paging, list, more_pages_hint, seg, text_or_file};
use crate::client::Call;
use crate::error::CliError;
use crate::output::{or_dash, relative};

#[derive(Debug, Args)]
pub struct PromptsArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub command: PromptsCommand,
}

/// `--model`, `--param`, `--settings-json`: a version's model settings.
#[derive(Debug, Clone, Default, Args)]
pub struct ModelSettingsArgs {
    /// The model_id, from `proem models list`.
    #[arg(long, value_name = "MODEL_ID")]
    pub model: Option<String>,
    /// A model parameter, NAME=VALUE (VALUE as JSON when it parses, else a string); repeatable.
    #[arg(long = "param", value_name = "NAME=VALUE", requires = "model")]
    pub params: Vec<String>,
    /// The whole modelSettings object as JSON: {"model_id": …, "parameters": {…}}.
    #[arg(long, value_name = "JSON", conflicts_with_all = ["model", "params"])]
    pub settings_json: Option<String>,
}

impl ModelSettingsArgs {
    /// The settings object, or None when no flag was given.
    pub fn to_value(&self) -> anyhow::Result<Option<Value>> {
        if let Some(raw) = &self.settings_json {
            let value: Value = serde_json::from_str(raw)
                .map_err(|e| CliError::usage(format!("--settings-json is not JSON: {e}")))?;
            return Ok(Some(value));
        }
        let Some(model) = &self.model else {
            return Ok(None);
        };
        let mut parameters = serde_json::Map::new();
        for param in &self.params {
            let (name, raw) = param
                .split_once('=')
                .ok_or_else(|| CliError::usage(format!("--param `{param}` is not NAME=VALUE")))?;
            let value = serde_json::from_str(raw).unwrap_or_else(|_| json!(raw));
            parameters.insert(name.trim().to_owned(), value);
        }
        Ok(Some(json!({ "model_id": model, "parameters": parameters })))
    }
}

#[derive(Debug, Subcommand)]
pub enum PromptsCommand {
    /// List your prompts (one page; --all for every page).
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show a prompt with its current version: model settings and prompt text.
    Get {
        /// The prompt's id (prm_…).
        prompt_id: String,
    },
    /// Create a prompt and its first version, from flags or from a YAML manifest (name,
    /// promptText, modelSettings with nested parameters, attachments by file path). Prints the
    /// new prompt id on stdout.
    Create {
        /// A YAML manifest; attachment paths are relative to it. Uploaded after the prompt is
        /// created.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["name", "text", "text_file"])]
        manifest: Option<PathBuf>,
        /// The prompt's name (at most 256 characters).
        #[arg(long, required_unless_present = "manifest")]
        name: Option<String>,
        /// The prompt text.
        #[arg(long, allow_hyphen_values = true, conflicts_with = "text_file")]
        text: Option<String>,
        /// Read the prompt text from a file (- for stdin).
        #[arg(long, value_name = "FILE")]
        text_file: Option<PathBuf>,
        #[command(flatten)]
        settings: ModelSettingsArgs,
        /// A short label for the prompt.
        #[arg(long)]
        abbreviation: Option<String>,
    },
    /// Change a prompt's name or abbreviation (RFC 7396 merge patch).
    Patch {
        /// The prompt's id (prm_…).
        prompt_id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, conflicts_with = "clear_abbreviation")]
        abbreviation: Option<String>,
        /// Remove the abbreviation.
        #[arg(long)]
        clear_abbreviation: bool,
    },
    /// Delete a prompt; its versions, records and attachments are hidden with it.
    Delete {
        /// The prompt's id (prm_…).
        prompt_id: String,
    },
    /// Make another version the prompt's current one.
    SwitchCurrent {
        /// The prompt's id (prm_…).
        prompt_id: String,
        /// The version's id (ver_…).
        version_id: String,
    },
    /// Delete a version; deleting the current one makes the lowest-numbered remaining version
    /// current. The only version cannot be deleted.
    DeleteVersion {
        /// The prompt's id (prm_…).
        prompt_id: String,
        /// The version's id (ver_…).
        version_id: String,
    },
}

pub async fn run(args: PromptsArgs) -> anyhow::Result<()> {
    let ctx = Ctx::connect(&args.opts)?;
    match args.command {
        PromptsCommand::List { paging } => {
            let listed = list::<PromptSummary>(&ctx, Call::get("/prompts"), &paging).await?;
            if !ctx.out.json {
                let rows: Vec<Vec<String>> = listed
                    .items
                    .iter()
                    .map(|p| {
                        vec![
                            p.id.clone(),
                            p.name.clone(),
                            p.output_modality.clone(),
                            relative(&p.updated_at_utc),
                            or_dash(p.description.as_deref()),
                        ]
                    })
                    .collect();
                ctx.out
                    .table(&["ID", "NAME", "OUTPUT", "UPDATED", "DESCRIPTION"], &rows);
                more_pages_hint(&ctx.out, listed.next_cursor.as_deref());
            }
            Ok(())
        }
        PromptsCommand::Get { prompt_id } => {
            let answer = ctx
                .send_printing(Call::get(format!("/prompts/{}", seg(&prompt_id))))
                .await?;
            if !ctx.out.json {
                show(&ctx, &answer.parse::<PromptDetail>()?);
            }
            Ok(())
        }
        PromptsCommand::Create {
            manifest: Some(path),
            ..
        } => create_from_manifest(&ctx, &path).await,
        PromptsCommand::Create {
            manifest: None,
            name,
            text,
            text_file,
            settings,
            abbreviation,
        } => {
            let text = text_or_file(text, text_file.as_deref())?.ok_or_else(|| {
                CliError::usage("give the prompt text with --text or --text-file")
            })?;
            let settings = settings.to_value()?.ok_or_else(|| {
                CliError::usage(
                    "give the model with --model (see `proem models list`) or --settings-json",
                )
            })?;
            let mut body = json!({
                "name": name.unwrap_or_default(),
                "promptText": text,
                "modelSettings": settings,
            });
            if let Some(a) = abbreviation {
                body["abbreviation"] = json!(a);
            }
            let answer = ctx
                .send_printing(Call::new(Method::POST, "/prompts").json(body))
                .await?;
            let created: PromptCreated = answer.parse()?;
            if !ctx.out.json {
                report_created(&ctx, &created);
            }
            Ok(())
        }
        PromptsCommand::Patch {
            prompt_id,
            name,
            abbreviation,
            clear_abbreviation,
        } => {
            let mut patch = serde_json::Map::new();
            if let Some(n) = name {
                patch.insert("name".into(), json!(n));
            }
            if let Some(a) = abbreviation {
                patch.insert("abbreviation".into(), json!(a));
            }
            if clear_abbreviation {
                patch.insert("abbreviation".into(), Value::Null);
            }
            if patch.is_empty() {
                return Err(CliError::usage(
                    "nothing to change: give --name, --abbreviation or --clear-abbreviation",
                )
                .into());
            }
            let call = Call::new(Method::PATCH, format!("/prompts/{}", seg(&prompt_id)))
                .merge_patch(Value::Object(patch));
            let answer = ctx.send_printing(call).await?;
            if !ctx.out.json {
                show(&ctx, &answer.parse::<PromptDetail>()?);
            }
            Ok(())
        }
        PromptsCommand::Delete { prompt_id } => {
            let call = Call::new(Method::DELETE, format!("/prompts/{}", seg(&prompt_id)));
            let answer = ctx.send_printing(call).await?;
            if !ctx.out.json {
                let deleted: PromptDeleted = answer.parse()?;
                ctx.out
                    .status(format!("{} {}", deleted.status, deleted.prompt_id));
            }
            Ok(())
        }
        PromptsCommand::SwitchCurrent {
            prompt_id,
            version_id,
        } => {
            let call = Call::new(
                Method::PUT,
                format!("/prompts/{}/current-version", seg(&prompt_id)),
            )
            .json(json!({ "versionId": version_id }));
            let answer = ctx.send_printing(call).await?;
            if !ctx.out.json {
                let current: CurrentVersion = answer.parse()?;
                ctx.out.status(format!(
                    "the current version of {} is now {}",
                    current.prompt_id, current.current_version_id
                ));
            }
            Ok(())
        }
        PromptsCommand::DeleteVersion {
            prompt_id,
            version_id,
        } => {
            let call = Call::new(
                Method::DELETE,
                format!("/prompts/{}/versions/{}", seg(&prompt_id), seg(&version_id)),
            );
            let answer = ctx.send_printing(call).await?;
            if !ctx.out.json {
                let deleted: VersionDeleted = answer.parse()?;
                ctx.out
                    .status(format!("{} {}", deleted.status, deleted.version_id));
                if let Some(current) = deleted.new_current_version_id {
                    ctx.out
                        .status(format!("the current version is now {current}"));
                }
            }
            Ok(())
        }
    }
}

fn report_created(ctx: &Ctx, created: &PromptCreated) {
    ctx.out.line(&created.prompt_id);
    ctx.out.status(format!(
        "created prompt {} with version {} ({})",
        created.prompt_id, created.version_number, created.current_version_id
    ));
}

fn show(ctx: &Ctx, p: &PromptDetail) {
    let out = &ctx.out;
    out.line(format!(
        "{}  ({})",
        out.paint(crate::output::Style::Bold, &p.prompt.name),
        p.prompt.id
    ));
    if let Some(a) = &p.prompt.abbreviation {
        out.line(format!("abbreviation: {a}"));
    }
    out.line(format!(
        "output: {} · updated {} · created {}",
        p.prompt.output_modality,
        relative(&p.prompt.updated_at_utc),
        relative(&p.prompt.created_at_utc)
    ));
    match &p.current_version {
        Some(v) => {
            out.line(format!(
                "current version: {} ({}) · model settings {}",
                v.version_number, v.id, v.model_settings
            ));
            if let Some(d) = &v.description {
                out.line(format!("description: {d}"));
            }
            out.line("");
            out.line(v.prompt_text.trim_end());
        }
        None => out.line(format!(
            "current version: {} ({})",
            p.current_version_status,
            or_dash(p.prompt.current_version_id.as_deref())
        )),
    }
}

/// The prompt manifest of the spec's Quickstart.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Manifest {
    name: String,
    prompt_text: String,
    /// `{ model_id, parameters: { … } }`, passed to the server as-is.
    model_settings: Value,
    #[serde(default)]
    abbreviation: Option<String>,
    #[serde(default)]
    version_description: Option<String>,
    #[serde(default)]
    attachments: Vec<ManifestAttachment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestAttachment {
    /// `text` or `image`; the server infers it from the bytes when absent.
    #[serde(default, rename = "type")]
    kind: Option<String>,
    /// Relative to the manifest's folder.
    file: PathBuf,
    /// The name to store; the file's own name when absent.
    #[serde(default)]
    filename: Option<String>,
}

fn read_manifest(path: &Path) -> anyhow::Result<Manifest> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the manifest {}", path.display()))?;
    yaml_serde::from_str(&text).map_err(|e| {
        CliError::usage(format!("{} is not a valid prompt manifest: {e}", path.display()))
            .with_hint("A manifest has name, promptText, modelSettings {model_id, parameters} and optional attachments [{type, file}].")
            .into()
    })
}

async fn create_from_manifest(ctx: &Ctx, path: &Path) -> anyhow::Result<()> {
    let manifest = read_manifest(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    // Every attachment is read before anything is created, so a missing file costs nothing.
    let mut files = Vec::new();
    for a in &manifest.attachments {
        let file = base.join(&a.file);
        let bytes = std::fs::read(&file)
            .with_context(|| format!("cannot read attachment {}", file.display()))?;
        let filename = match &a.filename {
            Some(f) => f.clone(),
            None => file_name(&file)?,
        };
        files.push((filename, bytes, a.kind.clone()));
    }
    let mut body = json!({
        "name": manifest.name,
        "promptText": manifest.prompt_text,
        "modelSettings": manifest.model_settings,
    });
    if let Some(a) = manifest.abbreviation {
        body["abbreviation"] = json!(a);
    }
    if let Some(d) = manifest.version_description {
        body["versionDescription"] = json!(d);
    }
    let answer = ctx
        .api
        .send(Call::new(Method::POST, "/prompts").json(body))
        .await?;
    let created: PromptCreated = answer.parse()?;
    if !ctx.out.json {
        report_created(ctx, &created);
    }
    let mut uploaded: Vec<Value> = Vec::new();
    for (filename, bytes, kind) in files {
        let attachment = upload(ctx, &created.prompt_id, filename.clone(), bytes, kind)
            .await
            .map_err(|e| {
                let hint = format!(
                    "The prompt {} was created; add the rest with `proem attachments add {} FILE`.",
                    created.prompt_id, created.prompt_id
                );
                match e.downcast::<CliError>() {
                    Ok(c) => c.with_hint(hint).into(),
                    Err(e) => e.context(hint),
                }
            })?;
        if !ctx.out.json {
            let a: AttachmentResponse = serde_json::from_value(attachment.clone())?;
            ctx.out.status(format!(
                "attached {} ({}, {} bytes, {})",
                a.filename, a.kind, a.size_bytes, a.id
            ));
        }
        uploaded.push(attachment);
    }
    if ctx.out.json {
        let mut body: Value = answer.parse()?;
        body["attachments"] = Value::Array(uploaded);
        ctx.out.json_value(&body);
    }
    Ok(())
}

/// The last component of a path as UTF-8.
pub fn file_name(path: &Path) -> anyhow::Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            CliError::usage(format!("{} has no usable file name", path.display())).into()
        })
}
