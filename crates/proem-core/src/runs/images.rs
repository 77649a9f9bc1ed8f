//! Images for a run (spec "Image input/output"): up to 16, 10 MB each, inline base64 or an image
//! attachment of the prompt, for models that declare image input. Inline images are stored in the
//! blob store (content-addressed) so the session's snapshot holds keys, not megabytes.

use base64::Engine as _;
use bytes::Bytes;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use proem_api::ReasonCode;
use proem_api::records::ImageInput;
use sha2::{Digest, Sha256};

use super::{IMAGE_CAP_BYTES, ImageRef, MAX_IMAGES};
use crate::attachments::image;
use crate::engine::Engine;
use crate::store::attachments as attachment_rows;
use crate::{Error, Rejection};

fn invalid(field: String, reason: &str, detail: String) -> Error {
    Rejection::new(ReasonCode::InvalidParams, detail)
        .with_param(field, reason)
        .into()
}

impl Engine {
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
