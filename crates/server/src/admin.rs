//! Palisade's own routes: `GET /_palisade/health`; each account's outbound identity federation
//! issuer, public as OpenID Connect discovery is (`GET /_palisade/outbound/<id>/.well-known/
//! openid-configuration` and `…/jwks.json`); and in `--dev` mode the state resets that moto's
//! test suites call between tests (`POST /moto-api/reset`, `POST /_palisade/reset`).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::outbound::PATH_PREFIX;
use crate::services::SERVED;
use crate::state::AppState;

/// Whether a path belongs to the admin routes rather than to an AWS API.
pub fn is_admin_path(path: &str) -> bool {
    path.starts_with("/_palisade/") || path.starts_with("/moto-api/")
}

/// The admin router.
pub fn router(state: Arc<AppState>) -> Router {
    let mut router = Router::new()
        .route("/_palisade/health", get(health))
        .route(
            &format!("{PATH_PREFIX}{{id}}/.well-known/openid-configuration"),
            get(openid_configuration),
        )
        .route(
            &format!("{PATH_PREFIX}{{id}}/.well-known/jwks.json"),
            get(jwks),
        );
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
        // What authorization does, which `mode` alone does not say: strict mode with
        // `--enforcement audit` or `off` refuses nothing.
        "enforcement": if state.config.dev { "off" } else { state.config.enforcement.as_str() },
        // Whether every call is recorded; off only for measuring what auditing costs.
        "audit": state.config.audit_enabled,
        "services": SERVED,
    }))
}

/// The issuer `id` while its account has the feature on: a disabled issuer publishes nothing, as
/// it issues nothing.
fn enabled_issuer(
    state: &AppState,
    id: &str,
) -> Result<crate::outbound::Issuer, (StatusCode, Json<Value>)> {
    match state.outbound.by_id(id) {
        Some(i) if i.enabled => Ok((*i).clone()),
        _ => Err((
            StatusCode::NOT_FOUND,
            Json(json!({"message": "no such outbound federation issuer"})),
        )),
    }
}

async fn openid_configuration(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let issuer = enabled_issuer(&state, &id)?;
    let url = crate::outbound::issuer_url(&state, &issuer.id);
    Ok(Json(crate::outbound::openid_configuration(&url)))
}

async fn jwks(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    Ok(Json(enabled_issuer(&state, &id)?.jwks()))
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
            state.outbound.clear().await;
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
