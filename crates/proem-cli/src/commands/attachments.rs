//! `proem attachments add|list|get|delete`: reference files of a prompt (text up to 5 MB, PNG,
//! JPEG or WebP images up to 10 MB), uploaded as multipart/form-data.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use futures::StreamExt as _;
use proem_api::attachments::{AttachmentList, AttachmentResponse};
use reqwest::Method;
use serde_json::Value;

use super::prompts::file_name;
use super::{ClientOpts, Ctx, seg};
use crate::client::{Body, Call};
use crate::output::relative;

#[derive(Debug, Args)]
pub struct AttachmentsArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub command: AttachmentsCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    Text,
    Image,
}

#[derive(Debug, Subcommand)]
pub enum AttachmentsCommand {
    /// Attach a file to a prompt. The same name and bytes again return the existing attachment.
    Add {
        /// The prompt's id (prm_…).
        prompt_id: String,
        /// The file to upload.
        file: PathBuf,
        /// text or image; inferred from the bytes when omitted.
        #[arg(long = "type", value_enum)]
        kind: Option<Kind>,
        /// The name to store instead of the file's own.
        #[arg(long)]
        filename: Option<String>,
    },
    /// List a prompt's attachments, oldest first.
    List {
        /// The prompt's id (prm_…).
        prompt_id: String,
    },
    /// Download an attachment's bytes to a file (- for stdout).
    Get {
        /// The attachment's id (att_…).
        attachment_id: String,
        /// Where to write the bytes (- for stdout).
        output: PathBuf,
    },
    /// Delete an attachment and refund its storage. Refused while an active run uses it.
    Delete {
        /// The attachment's id (att_…).
        attachment_id: String,
    },
}

pub async fn run(args: AttachmentsArgs) -> anyhow::Result<()> {
    let ctx = Ctx::connect(&args.opts)?;
    match args.command {
        AttachmentsCommand::Add {
            prompt_id,
            file,
            kind,
            filename,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let filename = match filename {
                Some(f) => f,
                None => file_name(&file)?,
            };
            let kind = kind.map(|k| match k {
                Kind::Text => "text".to_owned(),
                Kind::Image => "image".to_owned(),
            });
            let value = upload(&ctx, &prompt_id, filename, bytes, kind).await?;
            if ctx.out.json {
                ctx.out.json_value(&value);
            } else {
                let a: AttachmentResponse = serde_json::from_value(value)?;
                ctx.out.line(&a.id);
                ctx.out.status(format!(
                    "attached {} to {} ({}, {} bytes)",
                    a.filename, a.prompt_id, a.kind, a.size_bytes
                ));
            }
            Ok(())
        }
        AttachmentsCommand::List { prompt_id } => {
            let answer = ctx
                .send_printing(Call::get(format!(
                    "/prompts/{}/attachments",
                    seg(&prompt_id)
                )))
                .await?;
            if !ctx.out.json {
                let list: AttachmentList = answer.parse()?;
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|a| {
                        vec![
                            a.id.clone(),
                            a.kind.clone(),
                            a.size_bytes.to_string(),
                            relative(&a.created_at_utc),
                            a.filename.clone(),
                        ]
                    })
                    .collect();
                ctx.out
                    .table(&["ID", "TYPE", "BYTES", "CREATED", "FILENAME"], &rows);
            }
            Ok(())
        }
        AttachmentsCommand::Get {
            attachment_id,
            output,
        } => {
            let response = ctx
                .api
                .open(Call::get(format!("/attachments/{}", seg(&attachment_id))).streamed())
                .await?;
            let mut bytes = Vec::new();
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream.next().await {
                bytes.extend_from_slice(&chunk.context("the download broke off")?);
            }
            if output.as_os_str() == "-" {
                std::io::stdout().lock().write_all(&bytes)?;
            } else {
                write_file(&output, &bytes)?;
                if ctx.out.json {
                    ctx.out.json_value(&serde_json::json!({
                        "attachmentId": attachment_id,
                        "path": output,
                        "sizeBytes": bytes.len(),
                    }));
                } else {
                    ctx.out.status(format!(
                        "wrote {} bytes to {}",
                        bytes.len(),
                        output.display()
                    ));
                }
            }
            Ok(())
        }
        AttachmentsCommand::Delete { attachment_id } => {
            let call = Call::new(
                Method::DELETE,
                format!("/attachments/{}", seg(&attachment_id)),
            );
            ctx.api.send(call).await?;
            if ctx.out.json {
                ctx.out.json_value(&serde_json::json!({
                    "attachmentId": attachment_id,
                    "status": "deleted",
                }));
            } else {
                ctx.out.status(format!("deleted {attachment_id}"));
            }
            Ok(())
        }
    }
}

/// Uploads one file to a prompt; returns the API's attachment JSON.
pub async fn upload(
    ctx: &Ctx,
    prompt_id: &str,
    filename: String,
    bytes: Vec<u8>,
    kind: Option<String>,
) -> anyhow::Result<Value> {
    let mut call = Call::new(
        Method::POST,
        format!("/prompts/{}/attachments", seg(prompt_id)),
    );
    call.body = Body::File {
        filename,
        bytes: Arc::new(bytes),
        kind,
    };
    ctx.api.send(call).await?.parse()
}

/// Writes a downloaded file (not secret: ordinary permissions).
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
