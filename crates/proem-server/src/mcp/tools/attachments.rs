//! Attachment tools: list, fetch (text inline, images as image content, other bytes as a media
//! ref), upload from inline base64 (the hosted server has no agent filesystem, so `localPath` is
//! refused: spec "Differences from local CLI MCP"), and delete with refund.

use base64::Engine as _;
use bytes::Bytes;
use proem_api::ReasonCode;
use proem_api::attachments::{AttachmentList, AttachmentResponse};
use proem_core::attachments::{MAX_UPLOAD_BYTES, Upload, too_large};
use rmcp::model::ContentBlock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::mcp::dispatch::Call;
use crate::mcp::errors::reject;
use crate::mcp::table::{Done, Outcome};

/// List a prompt's attachments, oldest first: `id`, `filename`, `type` (`text` or `image`),
/// `contentType`, `sizeBytes`, `sha256`, image `width`/`height`, `createdAtUtc`. Fetch the bytes
/// with proem_get_attachment.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListAttachmentsParams {
    /// The prompt's id, `prm_…`.
    prompt_id: String,
}

pub async fn list_attachments(call: Call, p: ListAttachmentsParams) -> Outcome<AttachmentList> {
    let list = call
        .state
        .engine()
        .list_attachments(&call.caller, &p.prompt_id)
        .await?;
    Ok(Done::new(list))
}

/// Fetch an attachment's content. The reply names its `kind`: `text` returns the UTF-8 text
/// inline in `text`; `image` returns `imageMediaRef` (inline base64 with its mimeType) and the
/// image as an MCP image content block; `binary` (anything else) returns `mediaRef` instead of a
/// corrupt text decode.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetAttachmentParams {
    /// The attachment's id, `att_…`.
    attachment_id: String,
}

/// Bytes carried inline.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaRef {
    /// Always true: the bytes are in `base64`.
    pub inline: bool,
    /// Standard base64 of the bytes.
    pub base64: String,
    pub mime_type: String,
}

/// An attachment with its content.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentContent {
    pub attachment: AttachmentResponse,
    /// `text`, `image` or `binary`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_media_ref: Option<MediaRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_ref: Option<MediaRef>,
}

pub async fn get_attachment(call: Call, p: GetAttachmentParams) -> Outcome<AttachmentContent> {
    let (meta, bytes) = call
        .state
        .engine()
        .download_attachment(&call.caller, &p.attachment_id)
        .await?;
    let mime = meta
        .content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    let media = |bytes: &[u8]| MediaRef {
        inline: true,
        base64: base64::engine::general_purpose::STANDARD.encode(bytes),
        mime_type: mime.clone(),
    };
    let mut lead = Vec::new();
    let content = if meta.kind == "image" {
        let image = media(&bytes);
        lead.push(ContentBlock::image(image.base64.clone(), mime.clone()));
        AttachmentContent {
            kind: "image".to_owned(),
            text: None,
            image_media_ref: Some(image),
            media_ref: None,
            attachment: meta,
        }
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => AttachmentContent {
                kind: "text".to_owned(),
                text: Some(text),
                image_media_ref: None,
                media_ref: None,
                attachment: meta,
            },
            Err(_) => AttachmentContent {
                kind: "binary".to_owned(),
                text: None,
                image_media_ref: None,
                media_ref: Some(media(&bytes)),
                attachment: meta,
            },
        }
    };
    Ok(Done::new(content).with_lead(lead))
}

/// Attach a file (text or image) to a prompt, sent as standard base64 in `base64`. Text
/// attachments are appended to the prompt's instructions on every run; images are sent with
/// runs of models that accept images. Caps: 5 MB text, 10 MB image (at least 128×128 px; PNG,
/// JPEG or WebP), 20 files and 50 MB per prompt. Re-uploading the same filename and bytes
/// returns the existing attachment (`created: false`) without using storage. `localPath` is not
/// supported by the hosted server: read the file yourself and send its bytes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadAttachmentParams {
    /// The prompt's id, `prm_…`.
    prompt_id: String,
    /// A plain file name such as `examples.txt`: no `/` or `\`, not `.` or `..`.
    #[serde(default)]
    filename: Option<String>,
    /// The file's bytes, standard base64.
    #[serde(default, alias = "bytesBase64")]
    base64: Option<String>,
    /// `text` or `image`; inferred from the bytes when omitted.
    #[serde(default, rename = "type")]
    kind: Option<String>,
    /// Not supported over HTTP; send `base64` instead.
    #[serde(default)]
    local_path: Option<String>,
}

/// An uploaded attachment.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentUploaded {
    #[serde(flatten)]
    pub attachment: AttachmentResponse,
    /// False when the same filename and bytes were already attached.
    pub created: bool,
}

pub async fn upload_attachment(
    call: Call,
    p: UploadAttachmentParams,
) -> Outcome<AttachmentUploaded> {
    if p.local_path.is_some() {
        return Err(reject(
            ReasonCode::InvalidParams,
            "localPath",
            "localPath is not supported by the hosted MCP server, which cannot read your files; send the bytes as base64.",
        ));
    }
    let Some(encoded) = p.base64 else {
        return Err(reject(
            ReasonCode::InvalidParams,
            "base64",
            "base64 is required: the file's bytes in standard base64.",
        ));
    };
    // Four base64 characters carry three bytes: refuse before decoding anything too big.
    if encoded.len() / 4 * 3 > MAX_UPLOAD_BYTES + 3 {
        return Err(too_large(p.kind.as_deref().unwrap_or("image")).into());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| {
            reject(
                ReasonCode::InvalidParams,
                "base64",
                "base64 is not valid standard base64.",
            )
        })?;
    let upload = Upload {
        filename: p.filename,
        kind: p.kind,
        bytes: Bytes::from(bytes),
    };
    let (tx, attachment, created) = call
        .state
        .engine()
        .upload_attachment(&call.caller, &p.prompt_id, upload)
        .await?;
    Ok(Done::commit(
        tx,
        AttachmentUploaded {
            attachment,
            created,
        },
    ))
}

/// Soft-delete an attachment and refund its storage; deleting it again answers the same.
/// Refused with `attachment_referenced_by_active_run` while an unfinalized run uses it: finalize
/// or cancel that run first.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteAttachmentParams {
    /// The attachment's id, `att_…`.
    attachment_id: String,
}

/// What a delete answers.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentDeleted {
    pub attachment_id: String,
    pub prompt_id: String,
    /// Always `deleted`.
    pub status: String,
}

pub async fn delete_attachment(
    call: Call,
    p: DeleteAttachmentParams,
) -> Outcome<AttachmentDeleted> {
    let (tx, meta) = call
        .state
        .engine()
        .delete_attachment(&call.caller, &p.attachment_id)
        .await?;
    Ok(Done::commit(
        tx,
        AttachmentDeleted {
            attachment_id: meta.id,
            prompt_id: meta.prompt_id,
            status: "deleted".to_owned(),
        },
    ))
}
