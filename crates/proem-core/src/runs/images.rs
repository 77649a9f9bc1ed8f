//! Images of a run (spec "Image input/output"). In: up to 16, 10 MB each, inline base64 or an
//! image attachment of the prompt, for models that declare image input; inline images are stored
//! in the blob store (content-addressed) so the session's snapshot holds keys, not megabytes.
//! Out: the images an image-output turn made, stored under `images/{runId}/{sha256}` before the
//! turn is, and read back by index from the run's latest turn or from the record.

use base64::Engine as _;
use bytes::Bytes;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use proem_api::ReasonCode;
use proem_api::records::ImageInput;
use sha2::{Digest, Sha256};

use super::turn::Failure;
use super::{IMAGE_CAP_BYTES, ImageRef, MAX_IMAGES, RunState};
use crate::attachments::image;
use crate::auth::Principal;
use crate::engine::Engine;
use crate::store::attachments as attachment_rows;
use crate::store::cleanup;
use crate::{Error, Rejection};

/// Advisory-lock id of the blob cleanup worker, and how many keys one round looks at.
const CLEANUP_JOB: i64 = 0x7072_6f65_6d03;
const CLEANUP_BATCH: i64 = 100;

/// Attempts at storing a generated image before the turn fails with `image_upload_failed`.
const UPLOAD_ATTEMPTS: u32 = 3;

/// Decodes and stores the images a turn made, in order. Every failure is charged: the model
/// already made them.
pub(crate) async fn stored_images(
    engine: &Engine,
    run_id: &str,
    generated: &[String],
) -> Result<Vec<ImageRef>, Failure> {
    let mut stored = Vec::with_capacity(generated.len());
    for (n, encoded) in generated.iter().enumerate() {
        let (bytes, format) = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| image::sniff(&b).map(|f| (b, f)))
            .ok_or_else(|| {
                Failure::Upstream(proem_llm::LlmError::Protocol {
                    detail: format!("image {n} is not base64 of a PNG, JPEG or WebP image"),
                    charged: true,
                })
            })?;
        // Content-addressed within the run: a turn redone after a rewind has the same index as
        // the one it replaced, and its images must not overwrite images the cleanup will judge.
        let key = format!(
            "images/{run_id}/{}",
            crate::keys::hex(&Sha256::digest(&bytes))
        );
        let bytes = Bytes::from(bytes);
        let mut attempt = 1;
        loop {
            match engine
                .blobs
                .store
                .put(&engine.blob(&key), bytes.clone().into())
                .await
            {
                Ok(_) => break,
                Err(e) if attempt == UPLOAD_ATTEMPTS => {
                    tracing::error!(run.id = %run_id, error = %e, "cannot store a generated image");
                    return Err(Failure::Images {
                        code: ReasonCode::ImageUploadFailed,
                        message: format!(
                            "The model made its images but storing image {n} failed {UPLOAD_ATTEMPTS} times; the call is charged."
                        ),
                    });
                }
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                    attempt += 1;
                }
            }
        }
        stored.push(ImageRef {
            mime_type: format.content_type().to_owned(),
            blob_key: key,
        });
    }
    Ok(stored)
}

/// Whether `key` is a generated image's key: the stored reference is checked before it reaches
/// the blob store, so a corrupted row cannot read outside the images (`invalid_image_reference`).
fn is_image_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("images/") else {
        return false;
    };
    let Some((run, digest)) = rest.split_once('/') else {
        return false;
    };
    run.starts_with("run_")
        && run.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && digest.len() == 64
        && digest.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Image `index` of `images`, read from the blob store: its content type and bytes.
async fn pick(
    engine: &Engine,
    images: &[ImageRef],
    index: usize,
    none: &str,
) -> Result<(String, Bytes), Error> {
    if images.is_empty() {
        return Err(Rejection::new(ReasonCode::NoImageStored, none).into());
    }
    let image = images.get(index).ok_or_else(|| {
        Error::from(
            Rejection::new(
                ReasonCode::ImageIndexOutOfRange,
                format!(
                    "There are {} images; pass an index from 0 to {}.",
                    images.len(),
                    images.len() - 1
                ),
            )
            .with_param("index", "out_of_range"),
        )
    })?;
    if !is_image_key(&image.blob_key) {
        return Err(Rejection::new(
            ReasonCode::InvalidImageReference,
            "The stored image reference is not a generated image's; the record cannot serve it.",
        )
        .into());
    }
    Ok((
        image.mime_type.clone(),
        engine.read_blob(&image.blob_key).await?,
    ))
}

fn invalid(field: String, reason: &str, detail: String) -> Error {
    Rejection::new(ReasonCode::InvalidParams, detail)
        .with_param(field, reason)
        .into()
}

impl Engine {
    /// `GET /runs/{runId}/images/{n}`: image `index` of the run's latest turn. An Abandoned run
    /// is `run_already_terminal`.
    pub async fn run_image(
        &self,
        caller: &Principal,
        run_id: &str,
        index: usize,
    ) -> Result<(String, Bytes), Error> {
        let session = self.reach_session(caller, run_id).await?;
        if session.state == RunState::Abandoned {
            return Err(Rejection::new(
                ReasonCode::RunAlreadyTerminal,
                "The run was cancelled; its images are gone with it.",
            )
            .into());
        }
        let latest = session.turns.last().map_or(&[][..], |t| &t.images[..]);
        pick(
            self,
            latest,
            index,
            "The run's latest turn made no images (a text run, or a text-only revision).",
        )
        .await
    }

    /// `GET /records/{id}/image?index=N`: image `index` of every image the record keeps.
    pub async fn record_image(
        &self,
        caller: &Principal,
        record_id: &str,
        index: usize,
    ) -> Result<(String, Bytes), Error> {
        let row = self.reach_record(caller, record_id).await?;
        let images: Vec<ImageRef> = crate::records::images_of(&row)?
            .into_iter()
            .map(|i| i.image)
            .collect();
        pick(self, &images, index, "This record has no stored images.").await
    }

    /// Drains the blob cleanup queue: each queued image blob that no record or run refers to is
    /// deleted. One instance leads a round; the others skip it. Returns how many were deleted.
    pub async fn clean_blobs(&self) -> Result<u64, Error> {
        let Some(mut tx) = self.store.lead(CLEANUP_JOB).await? else {
            return Ok(0);
        };
        let mut deleted = 0;
        for key in cleanup::due(&mut *tx, CLEANUP_BATCH).await? {
            // A key that is still referenced leaves the queue too: whoever drops that reference
            // queues it again.
            if !cleanup::referenced(&mut *tx, &key).await? && is_image_key(&key) {
                match self.blobs.store.delete(&self.blob(&key)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot delete a dropped image blob; it stays queued");
                        continue;
                    }
                }
            }
            cleanup::remove(&mut *tx, &key).await?;
        }
        tx.commit().await.map_err(crate::store::StoreError::from)?;
        Ok(deleted)
    }

    pub(crate) fn blob(&self, key: &str) -> Path {
        self.blobs
            .prefix
            .parts()
            .chain(Path::from(key).parts())
            .collect()
    }

    pub(crate) async fn read_blob(&self, key: &str) -> Result<Bytes, Error> {
        Ok(self.blobs.store.get(&self.blob(key)).await?.bytes().await?)
    }

    /// Checks and stores a run's `images[]`; returns their references and the attachment ids used.
    pub(crate) async fn accept_images(
        &self,
        user_id: &str,
        prompt_id: &str,
        accepts_images: bool,
        images: &[ImageInput],
    ) -> Result<(Vec<ImageRef>, Vec<String>), Error> {
        if images.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        if images.len() > MAX_IMAGES {
            return Err(invalid(
                "images".into(),
                "too_many",
                format!("At most {MAX_IMAGES} images per run."),
            ));
        }
        if !accepts_images {
            return Err(invalid(
                "images".into(),
                "model_lacks_input_image",
                "The prompt's model does not accept images; pick a model with capabilities.input_image in GET /models.".into(),
            ));
        }
        let mut refs = Vec::new();
        let mut attachment_ids = Vec::new();
        for (i, img) in images.iter().enumerate() {
            let field = format!("images[{i}]");
            if img.local_path.is_some() {
                return Err(invalid(
                    format!("{field}.localPath"),
                    "not_supported",
                    "The server cannot read your files; send the image inline as base64.".into(),
                ));
            }
            if let Some(id) = &img.attachment_id {
                let att = attachment_rows::attachment(self.store.reader(), id)
                    .await?
                    .filter(|a| {
                        a.user_id == user_id
                            && a.prompt_id == prompt_id
                            && a.deleted_at.is_none()
                            && a.kind == "image"
                    })
                    .ok_or_else(|| {
                        Error::from(
                            Rejection::new(
                                ReasonCode::AttachmentNotFound,
                                format!("No image attachment {id} on this prompt."),
                            )
                            .with_param(format!("{field}.attachmentId"), "not_found"),
                        )
                    })?;
                refs.push(ImageRef {
                    mime_type: att.content_type,
                    blob_key: att.blob_key,
                });
                attachment_ids.push(att.id);
                continue;
            }
            let Some(encoded) = img.base64.as_deref().or(img.data.as_deref()) else {
                return Err(invalid(
                    field,
                    "required",
                    "Each image needs base64 (inline) or attachmentId.".into(),
                ));
            };
            if encoded.len() / 4 * 3 > IMAGE_CAP_BYTES + 3 {
                return Err(Rejection::new(
                    ReasonCode::FieldTooLarge,
                    "An image may be at most 10 MB.",
                )
                .with_param(field, "too_large")
                .into());
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| {
                    Error::from(
                        Rejection::new(
                            ReasonCode::InvalidImageBase64,
                            "An image's base64 cannot be decoded.",
                        )
                        .with_param(format!("{field}.base64"), "invalid_base64"),
                    )
                })?;
            if bytes.len() > IMAGE_CAP_BYTES {
                return Err(Rejection::new(
                    ReasonCode::FieldTooLarge,
                    "An image may be at most 10 MB.",
                )
                .with_param(field, "too_large")
                .into());
            }
            let format = image::sniff(&bytes).ok_or_else(|| {
                Error::from(
                    Rejection::new(
                        ReasonCode::InvalidImageFormat,
                        "Only PNG, JPEG and WebP images are accepted.",
                    )
                    .with_param(field.clone(), "invalid_image_format"),
                )
            })?;
            let key = format!("sha256/{}", crate::keys::hex(&Sha256::digest(&bytes)));
            self.blobs
                .store
                .put(&self.blob(&key), Bytes::from(bytes).into())
                .await?;
            refs.push(ImageRef {
                mime_type: format.content_type().to_owned(),
                blob_key: key,
            });
        }
        Ok((refs, attachment_ids))
    }
}
