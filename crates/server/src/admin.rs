//! Palisade's own routes: `GET /_palisade/health`, and in `--dev` mode the state resets that
//! moto's test suites call between tests (`POST /moto-api/reset`, `POST /_palisade/reset`).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::services::SERVED;
use crate::state::AppState;

/// Whether a path belongs to the admin routes rather than to an AWS API.
pub fn is_admin_path(path: &str) -> bool {
    path.starts_with("/_palisade/") || path.starts_with("/moto-api/")
}

/// The admin router.
pub fn router(state: Arc<AppState>) -> Router {
    let mut router = Router::new().route("/_palisade/health", get(health));
    if state.config.dev {
        router = router
            .route("/_palisade/reset", post(reset))
            .route("/moto-api/reset", post(reset));
    }
    router.with_state(state)
}

async fn health(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "mode": if state.config.dev { "dev" } else { "strict" },
        "services": SERVED,
    }))
}

async fn reset(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    match state.store.reset().await {
        Ok(()) => {
            state.keys.clear();
            state.iam.clear();
            state.kms.clear();
            state.trails.clear();
            state.trails.delivery.clear().await;
            state.secrets.clear();
            tracing::info!("state reset");
            (StatusCode::OK, Json(json!({"status": "reset"})))
        }
        Err(e) => {
            tracing::error!(error = %e, "reset failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"status": "error", "message": e.to_string()})),
            )
        }
    }
}
