//! The records service on an identity server: one listener, enrollment
//! and key login, the action handler, change topics, and on PostgreSQL the
//! relay of change notices.

use super::config::RecordsConfig;
use super::notify::{install_triggers, listen, relay_changes};
use super::service::RecordsService;
use crate::IdentityError;
use crate::server::{IdentityConfig, IdentityServer};
use crate::store::{Backend, Store};
use corridor::SessionOptions;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A bound records server.
#[derive(Debug)]
pub struct RecordsServer {
    identity: IdentityServer,
    service: Arc<RecordsService>,
    changes: Option<sqlx::postgres::PgListener>,
}

impl RecordsServer {
    /// Runs the config's setup, installs PostgreSQL's triggers, binds.
    pub async fn bind(
        identity: IdentityConfig,
        records: RecordsConfig,
        store: Arc<Store>,
    ) -> Result<RecordsServer, IdentityError> {
        let service = RecordsService::start(records, store.clone())
            .await
            .map_err(|error| IdentityError::Store(error.into()))?;
        let changes = match store.backend() {
            Backend::Postgres => {
                install_triggers(store.pool(), &service.config().views)
                    .await
                    .map_err(|error| IdentityError::Store(error.into()))?;
                Some(
                    listen(store.url())
                        .await
                        .map_err(|error| IdentityError::Store(error.into()))?,
                )
            }
            Backend::Sqlite => None,
        };
        let identity = IdentityServer::bind(identity, store, service.topic_policy()).await?;
        service.publish_to(identity.events());
        Ok(RecordsServer {
            identity,
            service,
            changes,
        })
    }

    /// The identity server underneath (URL, key, events, live sessions).
    pub fn identity(&self) -> &IdentityServer {
        &self.identity
    }

    /// The service.
    pub fn service(&self) -> &Arc<RecordsService> {
        &self.service
    }

    /// Serves until the identity server's handle stops it.
    pub async fn serve(self, options: SessionOptions) {
        let stop = CancellationToken::new();
        if let Some(changes) = self.changes {
            tokio::spawn(relay_changes(changes, self.service.clone(), stop.clone()));
        }
        let router = options.router().clone().merge(self.service.router());
        let _stop_relay = stop.drop_guard();
        self.identity
            .serve(options.with_router(router), |_, _| async {})
            .await;
    }
}
