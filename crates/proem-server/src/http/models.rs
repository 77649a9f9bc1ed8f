//! `GET /api/v2/public/models`: the live model catalog.

use axum::Json;
use axum::extract::State;
use proem_api::models::ModelsResponse;

use crate::state::AppState;

/// List models
///
/// The live catalog. A model's `model_id` and `recommended_defaults` paste straight into
/// `modelSettings`.
#[utoipa::path(
    get,
    path = "/api/v2/public/models",
    tag = "models",
    responses((status = 200, description = "The catalog.", body = ModelsResponse)),
)]
pub async fn list_models(State(state): State<AppState>) -> Json<ModelsResponse> {
    Json(state.engine().catalog.to_wire())
}
