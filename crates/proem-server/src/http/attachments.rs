//! Attachments: `POST /prompts/{id}/attachments` (multipart/form-data or JSON with base64),
//! `GET /prompts/{id}/attachments`, `GET /attachments/{id}` (the bytes), `DELETE /attachments/{id}`.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use proem_api::ReasonCode;
use proem_api::attachments::{AttachmentList, AttachmentResponse, UploadAttachmentRequest};
use proem_api::problem::Problem;
use proem_core::attachments::{MAX_UPLOAD_BYTES, Upload, too_large};

use super::openapi::{AttachmentForm, IdempotencyKey, PROBLEM, problems};
use super::respond::touching;
use crate::error::{AppError, AppResult};
use crate::extract::{Caller, parse_json};
use crate::middleware::guard::Touched;
use crate::middleware::idempotency::Idempotency;
use crate::state::AppState;

/// Upload an attachment
///
/// As `multipart/form-data` (a `file` part, optional `filename` and `type` fields) or as JSON
/// with standard base64. Re-uploading the same name and bytes returns the existing attachment.
#[utoipa::path(
    post,
    path = "/api/v2/public/prompts/{id}/attachments",
    tag = "attachments",
    params(("id" = String, Path, description = "The prompt id."), IdempotencyKey),
    request_body(content(
        (AttachmentForm = "multipart/form-data"),
        (UploadAttachmentRequest = "application/json"),
    )),
    responses(
        (status = 201, description = "Uploaded.", body = AttachmentResponse),
        (status = 200, description = "The same name and bytes were already attached.", body = AttachmentResponse),
        (status = 400, description = problems(&[ReasonCode::InvalidParams, ReasonCode::InvalidFilename, ReasonCode::InvalidImageFormat, ReasonCode::ImageDimensionsTooSmall]), body = Problem, content_type = PROBLEM),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::PromptNotFound]), body = Problem, content_type = PROBLEM),
        (status = 413, description = problems(&[ReasonCode::FieldTooLarge, ReasonCode::StorageQuotaExceeded]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn upload_attachment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
    req: Request,
) -> AppResult<Response> {
    let upload = read_upload(req).await?;
    let (tx, attachment, created) = state
        .engine()
        .upload_attachment(&caller, &id, upload)
        .await?;
    // A re-upload of the same name and bytes returns the existing attachment: 200, not 201.
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let aid = attachment.id.clone();
    idem.commit(&state, tx, touching(&id, Some(&aid), status, attachment))
        .await
}

/// List a prompt's attachments
#[utoipa::path(
    get,
    path = "/api/v2/public/prompts/{id}/attachments",
    tag = "attachments",
    params(("id" = String, Path, description = "The prompt id.")),
    responses(
        (status = 200, description = "The prompt's attachments, oldest first.", body = AttachmentList),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::PromptNotFound]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn list_attachments(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let list = state.engine().list_attachments(&caller, &id).await?;
    Ok(touching(&id, None, StatusCode::OK, list))
}

/// Download an attachment
///
/// The bytes with their stored `Content-Type`, as a download (`Content-Disposition:
/// attachment`), never rendered in place.
#[utoipa::path(
    get,
    path = "/api/v2/public/attachments/{id}",
    tag = "attachments",
    params(("id" = String, Path, description = "The attachment id.")),
    responses(
        (status = 200, description = "The attachment's bytes.", content_type = "application/octet-stream",
            headers(("Content-Disposition" = String, description = "`attachment; filename*=UTF-8''…`"))),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::AttachmentNotFound]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn download_attachment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let (meta, bytes) = state.engine().download_attachment(&caller, &id).await?;
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&meta.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    // User content from the API origin: never rendered in place, never sniffed into HTML.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename*=UTF-8''{}",
        percent_encode(&meta.filename)
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response.extensions_mut().insert(Touched {
        prompt_id: Some(meta.prompt_id),
        object_id: Some(meta.id),
    });
    Ok(response)
}

/// Delete an attachment
///
/// Soft-deletes it and refunds its storage; deleting it again answers the same.
#[utoipa::path(
    delete,
    path = "/api/v2/public/attachments/{id}",
    tag = "attachments",
    params(("id" = String, Path, description = "The attachment id."), IdempotencyKey),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::AttachmentNotFound]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn delete_attachment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let (tx, meta) = state.engine().delete_attachment(&caller, &id).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.extensions_mut().insert(Touched {
        prompt_id: Some(meta.prompt_id),
        object_id: Some(meta.id),
    });
    idem.commit(&state, tx, response).await
}

/// Reads an upload from a JSON or multipart body, refusing a file as soon as it passes the
/// largest cap rather than after buffering all of it.
async fn read_upload(req: Request) -> AppResult<Upload> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        let body = Bytes::from_request(req, &()).await.map_err(|_| {
            AppError::new(
                ReasonCode::RequestTooLarge,
                "The request body is larger than the server accepts.",
            )
        })?;
        let json: UploadAttachmentRequest = parse_json(&body)?;
        // Four base64 characters carry three bytes: refuse before decoding anything too big.
        if json.base64.len() / 4 * 3 > MAX_UPLOAD_BYTES + 3 {
            return Err(too_large(json.kind.as_deref().unwrap_or("image")).into());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(json.base64.trim())
            .map_err(|_| {
                AppError::new(
                    ReasonCode::InvalidParams,
                    "base64 is not valid standard base64.",
                )
                .with_param("base64", "invalid_base64")
            })?;
        return Ok(Upload {
            filename: json.filename,
            kind: json.kind,
            bytes: Bytes::from(bytes),
        });
    }
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(req, &()).await.map_err(|e| {
            AppError::new(
                ReasonCode::InvalidRequest,
                format!("Unreadable multipart body: {e}."),
            )
        })?;
        let mut upload = Upload {
            filename: None,
            kind: None,
            bytes: Bytes::new(),
        };
        let mut file_name = None;
        let mut saw_file = false;
        while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
            match field.name().unwrap_or("") {
                "file" => {
                    saw_file = true;
                    file_name = field.file_name().map(str::to_owned);
                    let mut buf = BytesMut::new();
                    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                        if buf.len() + chunk.len() > MAX_UPLOAD_BYTES {
                            return Err(too_large(upload.kind.as_deref().unwrap_or("image")).into());
                        }
                        buf.extend_from_slice(&chunk);
                    }
                    upload.bytes = buf.freeze();
                }
                "filename" => upload.filename = Some(field.text().await.map_err(multipart_error)?),
                "type" => upload.kind = Some(field.text().await.map_err(multipart_error)?),
                other => {
                    return Err(AppError::new(
                        ReasonCode::InvalidRequest,
                        format!("Unknown form field `{other}`; send file, and optionally filename and type."),
                    )
                    .with_param(other, "unknown_field"));
                }
            }
        }
        if !saw_file {
            return Err(
                AppError::new(ReasonCode::InvalidParams, "The form has no `file` field.")
                    .with_param("file", "required"),
            );
        }
        upload.filename = upload.filename.or(file_name);
        return Ok(upload);
    }
    Err(AppError::new(
        ReasonCode::UnsupportedMediaType,
        "Upload as multipart/form-data (field `file`) or application/json ({filename, base64, type}).",
    ))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::new(
            ReasonCode::RequestTooLarge,
            "The request body is larger than the server accepts.",
        )
    } else {
        AppError::new(
            ReasonCode::InvalidRequest,
            format!("Unreadable multipart body: {e}."),
        )
    }
}

/// RFC 5987 percent-encoding for `filename*`.
fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
