//! `GET /problems/{reason_code}`: the human page every problem `type` URL points at.

use axum::extract::Path;
use axum::response::Html;
use proem_api::ReasonCode;

use crate::error::{AppError, AppResult};

/// A reason code's page
///
/// The human page every problem document's `type` URL points at.
#[utoipa::path(
    get,
    path = "/problems/{reason_code}",
    tag = "service",
    params(("reason_code" = String, Path, description = "A reason code, e.g. `key_unauthorized`.")),
    responses(
        (status = 200, description = "The page.", body = String, content_type = "text/html"),
        (status = 404, description = super::openapi::problems(&[ReasonCode::RouteNotFound]),
            body = proem_api::Problem, content_type = super::openapi::PROBLEM),
    ),
)]
pub async fn problem_page(Path(code): Path<String>) -> AppResult<Html<String>> {
    let reason = ReasonCode::from_code(&code).ok_or_else(|| {
        AppError::new(
            ReasonCode::RouteNotFound,
            format!("There is no reason code `{code}`."),
        )
    })?;
    Ok(Html(render(reason)))
}

fn render(code: ReasonCode) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{code} · Proem</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem}}\
         code{{background:#f3f3f3;padding:.1rem .3rem}}</style></head><body>\n\
         <h1><code>{code}</code></h1>\n<p><strong>HTTP {status}</strong> · {title}</p>\n\
         <h2>What to do</h2>\n<p>{hint}</p>\n\
         <p>Every Proem error is an <code>application/problem+json</code> document carrying this \
         <code>reason_code</code>, a <code>detail</code>, an <code>action_hint</code> and the \
         <code>request_id</code> to quote when reporting it.</p>\n</body></html>\n",
        code = code.as_str(),
        status = code.status(),
        title = escape(code.title()),
        hint = escape(code.action_hint()),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
