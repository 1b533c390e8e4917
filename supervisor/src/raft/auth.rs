//! Who may speak on the cluster port: [`auth_layer`], one tower layer over
//! the whole cluster-port router (the Raft routes and every other route
//! merged into it).
//!
//! Every request but `GET /raft/status` must carry
//! `authorization: Bearer <secret>` when the node has a cluster secret
//! (compared in constant time); without one the port is loopback-only (see
//! `config/cluster.rs`). Every request may also carry the sender's idea of
//! the cluster id ([`CLUSTER_ID_HEADER`]) and of this node's incarnation
//! ([`INCARNATION_HEADER`]); either one differing from this node's is
//! refused with 409, before any handler runs. A node without a cluster id
//! yet takes the first one an authenticated peer sends.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::meta::{ClusterMeta, MetaError};
use crate::app_error::AppError;

/// Header naming the cluster the sender belongs to.
pub const CLUSTER_ID_HEADER: &str = "x-mcp-v8-cluster-id";
/// Header naming the incarnation the sender expects the receiver to have.
pub const INCARNATION_HEADER: &str = "x-mcp-v8-incarnation";

/// The shared secret of the cluster port. Its `Debug` does not show it.
#[derive(Clone)]
pub struct ClusterSecret(Arc<str>);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

impl ClusterSecret {
    /// A secret from its text (surrounding whitespace and the final
    /// newline of a file are not part of it); `None` if nothing is left.
    pub fn new(text: &str) -> Option<Self> {
        let text = text.trim();
        (!text.is_empty()).then(|| ClusterSecret(Arc::from(text)))
    }

    /// The `authorization` header value that carries it.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// Whether an `authorization` header value carries this secret
    /// (constant time in the secret's bytes).
    fn admits(&self, value: Option<&[u8]>) -> bool {
        let Some(given) = value.and_then(|v| v.strip_prefix(b"Bearer ")) else {
            return false;
        };
        bool::from(given.ct_eq(self.0.as_bytes()))
    }
}

/// What the layer checks against.
#[derive(Clone)]
pub struct AuthState {
    /// The secret, if the node has one.
    pub secret: Option<ClusterSecret>,
    /// This node's incarnation and cluster id.
    pub meta: Arc<ClusterMeta>,
}

/// The layer to put over the whole cluster-port router.
pub fn auth_layer(state: AuthState) -> AuthLayer {
    AuthLayer(state)
}

/// See [`auth_layer`].
#[derive(Clone)]
pub struct AuthLayer(AuthState);

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            state: self.0.clone(),
            inner,
        }
    }
}

/// The service [`AuthLayer`] wraps around a router.
#[derive(Clone)]
pub struct AuthService<S> {
    state: AuthState,
    inner: S,
}

/// Whether a request needs no secret: only the status page for people.
fn is_public(req: &Request) -> bool {
    req.method() == Method::GET && req.uri().path() == "/raft/status"
}

impl AuthState {
    /// `Ok` if the request may go on, else the refusal to answer.
    pub fn check(&self, req: &Request) -> Result<(), AppError> {
        let headers = req.headers();
        if let Some(secret) = &self.secret {
            let given = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
            if !is_public(req) && !secret.admits(given) {
                return Err(AppError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the cluster port needs the cluster secret (authorization: Bearer ...)",
                ));
            }
        }
        if let Some(expected) = headers.get(INCARNATION_HEADER) {
            let expected = String::from_utf8_lossy(expected.as_bytes());
            if !expected.is_empty() && expected != self.meta.incarnation() {
                return Err(AppError::new(
                    StatusCode::CONFLICT,
                    "incarnation_mismatch",
                    format!(
                        "this node's database is incarnation {}, not {expected}: it was wiped or \
                         another node uses its name; remove the old member and join again",
                        self.meta.incarnation()
                    ),
                ));
            }
        }
        if let Some(theirs) = headers.get(CLUSTER_ID_HEADER) {
            let theirs = String::from_utf8_lossy(theirs.as_bytes());
            if !theirs.is_empty() {
                self.meta.adopt(&theirs).map_err(|e| match e {
                    MetaError::OtherCluster { .. } => {
                        AppError::new(StatusCode::CONFLICT, "cluster_mismatch", e.to_string())
                    }
                    other => AppError::internal("recording the cluster id", other),
                })?;
            }
        }
        Ok(())
    }
}

impl<S> tower::Service<Request> for AuthService<S>
where
    S: tower::Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match self.state.check(&req) {
            Ok(()) => {
                // The clone that was polled ready serves this call.
                let clone = self.inner.clone();
                let mut ready = std::mem::replace(&mut self.inner, clone);
                Box::pin(ready.call(req))
            }
            Err(refusal) => {
                tracing::warn!(
                    path = req.uri().path(),
                    code = %refusal.code,
                    "cluster request refused"
                );
                Box::pin(async move { Ok(refusal.into_response()) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_compared_whole_and_never_printed() {
        let secret = ClusterSecret::new(" s3cret-value\n").unwrap();
        assert!(secret.admits(Some(b"Bearer s3cret-value")));
        for wrong in [
            &b"Bearer s3cret-valu"[..],
            b"Bearer s3cret-value2",
            b"s3cret-value",
            b"Bearer ",
            b"bearer s3cret-value",
        ] {
            assert!(!secret.admits(Some(wrong)), "{wrong:?}");
        }
        assert!(!secret.admits(None));
        assert!(!format!("{secret:?}").contains("s3cret"));
        assert!(ClusterSecret::new(" \n").is_none());
    }
}
