//! Prompt attachments: upload (validated filename, sniffed image with header-checked dimensions,
//! caps and quotas), list, download and soft-delete with refund. Bytes are content-addressed in
//! the blob store; re-uploading the same filename and bytes to a prompt returns the existing
//! attachment and consumes nothing. Nothing reaches the blob store before every check passed.

mod filename;
pub mod image;

use bytes::Bytes;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use proem_api::ReasonCode;
use proem_api::attachments::{AttachmentList, AttachmentResponse};
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::clock::to_utc_string;
use crate::engine::Engine;
use crate::store::attachments::{self as rows, AttachmentRow};
use crate::txn::Txn;
use crate::{Error, Rejection, ids};

pub use filename::{MAX_FILENAME_BYTES, check_filename};

pub const TEXT_CAP_BYTES: usize = 5 * 1024 * 1024;
pub const IMAGE_CAP_BYTES: usize = 10 * 1024 * 1024;
pub const PER_PROMPT_COUNT: i64 = 20;
pub const PER_PROMPT_BYTES: i64 = 50 * 1024 * 1024;
pub const PER_USER_BYTES: i64 = 1024 * 1024 * 1024;

/// The largest upload of any kind; a stream past it can be refused before it ends.
pub const MAX_UPLOAD_BYTES: usize = IMAGE_CAP_BYTES;

/// An upload as received.
#[derive(Debug, Clone)]
pub struct Upload {
    pub filename: Option<String>,
    /// `text` or `image`; inferred from the bytes when absent.
    pub kind: Option<String>,
    pub bytes: Bytes,
}

/// `field_too_large` for an upload of `kind` past its cap.
pub fn too_large(kind: &str) -> Error {
    let cap = if kind == "image" { "10 MB" } else { "5 MB" };
    Rejection::new(
        ReasonCode::FieldTooLarge,
        format!("A {kind} attachment may be at most {cap}."),
    )
    .with_param("file", "too_large")
    .into()
}

fn attachment_not_found(id: &str) -> Error {
    Rejection::new(
        ReasonCode::AttachmentNotFound,
        format!("No attachment {id} is visible to this key."),
    )
    .with_param("attachmentId", "not_found")
    .into()
}

fn quota(what: &str) -> Error {
    Rejection::new(
        ReasonCode::StorageQuotaExceeded,
        format!("The upload would exceed {what}."),
    )
    .with_param("file", "storage_quota_exceeded")
    .into()
}

fn text_content_type(filename: &str) -> &'static str {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "json" => "application/json",
        "md" | "markdown" => "text/markdown; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "yaml" | "yml" => "application/yaml",
        "xml" => "application/xml",
        "html" | "htm" => "text/html; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

pub fn response(a: &AttachmentRow) -> AttachmentResponse {
    AttachmentResponse {
        id: a.id.clone(),
        prompt_id: a.prompt_id.clone(),
        filename: a.filename.clone(),
        kind: a.kind.clone(),
        content_type: a.content_type.clone(),
        size_bytes: a.size_bytes,
        sha256: a.sha256.clone(),
        width: a.width,
        height: a.height,
        created_at_utc: to_utc_string(a.created_at),
    }
}

/// What was checked about an upload before any write.
struct Checked {
    filename: String,
    kind: &'static str,
    content_type: String,
    width: Option<i64>,
    height: Option<i64>,
    sha256: String,
}

fn check_upload(upload: &Upload) -> Result<Checked, Error> {
    let filename = check_filename(upload.filename.as_deref())?.to_owned();
    let kind = match upload.kind.as_deref() {
        Some("image") => "image",
        Some("text") => "text",
        Some(other) => {
            return Err(Rejection::new(
                ReasonCode::InvalidParams,
                format!("type is `text` or `image`; got `{other}`."),
            )
            .with_param("type", "not_in_enum")
            .into());
        }
        None if image::sniff(&upload.bytes).is_some() => "image",
        None => "text",
    };
    let cap = if kind == "image" {
        IMAGE_CAP_BYTES
    } else {
        TEXT_CAP_BYTES
    };
    if upload.bytes.len() > cap {
        return Err(too_large(kind));
    }
    let (content_type, width, height) = if kind == "image" {
        let info = image::inspect(&upload.bytes)?;
        (
            info.format.content_type().to_owned(),
            Some(i64::from(info.width)),
            Some(i64::from(info.height)),
        )
    } else {
        if std::str::from_utf8(&upload.bytes).is_err() {
            return Err(Rejection::new(
                ReasonCode::InvalidParams,
                "A text attachment must be UTF-8.",
            )
            .with_param("file", "not_utf8")
            .into());
        }
        (text_content_type(&filename).to_owned(), None, None)
    };
    Ok(Checked {
        filename,
        kind,
        content_type,
        width,
        height,
        sha256: crate::keys::hex(&Sha256::digest(&upload.bytes)),
    })
}

impl Engine {
    fn blob_path(&self, key: &str) -> Path {
        self.blobs
            .prefix
            .parts()
            .chain(Path::from(key).parts())
            .collect()
    }

    /// Uploads an attachment; `created` is false when an identical one already existed.
    pub async fn upload_attachment(
        &self,
        caller: &Principal,
        prompt_id: &str,
        upload: Upload,
    ) -> Result<(Txn, AttachmentResponse, bool), Error> {
        let checked = check_upload(&upload)?;
        let mut tx = Txn::new(self.store.begin().await?);
        let prompt = self.lock_prompt(&mut tx, caller, prompt_id).await?;
        if let Some(existing) =
            rows::find_same(&mut *tx, &prompt.id, &checked.filename, &checked.sha256).await?
        {
            return Ok((tx, response(&existing), false));
        }
        let size = i64::try_from(upload.bytes.len()).unwrap_or(i64::MAX);
        if !rows::reserve_prompt(
            &mut tx,
            &prompt.id,
            size,
            PER_PROMPT_COUNT,
            PER_PROMPT_BYTES,
        )
        .await?
        {
            return Err(quota("the per-prompt limits (20 attachments, 50 MB)"));
        }
        if !rows::reserve_user(&mut tx, caller.user_id(), size, PER_USER_BYTES).await? {
            return Err(quota("your 1 GB storage quota"));
        }
        let blob_key = format!("sha256/{}", checked.sha256);
        let row = AttachmentRow {
            id: ids::new_id(ids::ATTACHMENT),
            prompt_id: prompt.id.clone(),
            user_id: caller.user_id().to_owned(),
            filename: checked.filename,
            kind: checked.kind.to_owned(),
            content_type: checked.content_type,
            size_bytes: size,
            sha256: checked.sha256,
            blob_key: blob_key.clone(),
            width: checked.width,
            height: checked.height,
            created_at: self.store.now_ms(),
            deleted_at: None,
        };
        rows::insert(&mut tx, &row).await?;
        // Last: every check has passed, so a rejection never leaves bytes behind. The key is the
        // content hash, so writing bytes that are already there is harmless.
        self.blobs
            .store
            .put(&self.blob_path(&blob_key), upload.bytes.into())
            .await?;
        Ok((tx, response(&row), true))
    }

    pub async fn list_attachments(
        &self,
        caller: &Principal,
        prompt_id: &str,
    ) -> Result<AttachmentList, Error> {
        let prompt = self.reach_prompt(caller, prompt_id).await?;
        let items = rows::list(self.store.reader(), &prompt.id).await?;
        Ok(AttachmentList {
            items: items.iter().map(response).collect(),
        })
    }

    /// The caller's attachment `id` (live or, with `include_deleted`, soft-deleted), on a prompt
    /// the caller can reach.
    async fn reach_attachment(
        &self,
        caller: &Principal,
        id: &str,
        include_deleted: bool,
    ) -> Result<AttachmentRow, Error> {
        let row = rows::attachment(self.store.reader(), id)
            .await?
            .filter(|a| {
                a.user_id == caller.user_id() && (include_deleted || a.deleted_at.is_none())
            })
            .ok_or_else(|| attachment_not_found(id))?;
        self.reach_prompt(caller, &row.prompt_id)
            .await
            .map_err(|e| match e.code() {
                ReasonCode::PromptNotFound => attachment_not_found(id),
                _ => e,
            })?;
        Ok(row)
    }

    /// Metadata and bytes of an attachment.
    pub async fn download_attachment(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<(AttachmentResponse, Bytes), Error> {
        let row = self.reach_attachment(caller, id, false).await?;
        let bytes = self
            .blobs
            .store
            .get(&self.blob_path(&row.blob_key))
            .await?
            .bytes()
            .await?;
        Ok((response(&row), bytes))
    }

    /// Soft-deletes an attachment and refunds its bytes; deleting it again changes nothing.
    pub async fn delete_attachment(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<(Txn, AttachmentResponse), Error> {
        let row = self.reach_attachment(caller, id, true).await?;
        let pinned = crate::store::runs::live_mentioning(
            self.store.reader(),
            &row.prompt_id,
            &row.id,
            self.store.now_ms(),
        )
        .await?;
        if row.deleted_at.is_none() && !pinned.is_empty() {
            return Err(Rejection::new(
                ReasonCode::AttachmentReferencedByActiveRun,
                format!("Live runs use this attachment: {}. Finalize or cancel them, or wait for their 1 h TTL.", pinned.join(", ")),
            )
            .into());
        }
        let mut tx = Txn::new(self.store.begin().await?);
        rows::delete(&mut tx, &row, self.store.now_ms()).await?;
        Ok((tx, response(&row)))
    }
}
