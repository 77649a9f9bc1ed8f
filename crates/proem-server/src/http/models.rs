//! `GET /api/v2/public/models`: the live model catalog.

use axum::Json;
use axum::extract::State;
use proem_api::models::ModelsResponse;

use crate::state::AppState;

pub async fn list_models(State(state): State<AppState>) -> Json<ModelsResponse> {
    Json(state.engine().catalog.to_wire())
}
