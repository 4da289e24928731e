//! Carries out a [`SwarmPlan`]: the fleet's overlay network, then each
//! tenant's service created or updated (naming the version it was read
//! at, so a concurrent change by hand fails the update instead of being
//! overwritten unseen). A failed tenant does not stop the others; nothing
//! is ever removed (a service of a tenant that left is reported; volumes
//! stay on their node).

use super::plan::{Action, SwarmPlan};
use crate::desired::DesiredState;
use crate::docker::{DockerClient, DockerError};
use bollard::models::NetworkCreateRequest;

#[derive(Debug, Default)]
pub struct SwarmReport {
    pub network: Option<Result<(), DockerError>>,
    /// Per tenant with work: what was done, or why it failed.
    pub tenants: Vec<(String, Result<&'static str, DockerError>)>,
}

impl SwarmReport {
    pub fn failures(&self) -> usize {
        self.tenants.iter().filter(|(_, r)| r.is_err()).count()
            + usize::from(matches!(self.network, Some(Err(_))))
    }
}

pub async fn apply_swarm(
    docker: &DockerClient,
    desired: &DesiredState,
    plan: &SwarmPlan,
) -> SwarmReport {
    let mut report = SwarmReport::default();
    if plan.create_network {
        let request = NetworkCreateRequest {
            name: desired.network.clone(),
            driver: Some("overlay".into()),
            attachable: Some(true),
            labels: Some(
                crate::labels::network_labels(&desired.extra_labels, &desired.fleet)
                    .into_iter()
                    .collect(),
            ),
            ..Default::default()
        };
        let created = docker
            .call("create_network", |d| async move {
                d.create_network(request).await
            })
            .await
            .map(|_| ());
        if let Err(e) = &created {
            tracing::warn!(network = %desired.network, error = %e, "cannot create the overlay network; its tenants wait");
        } else {
            tracing::info!(network = %desired.network, "created overlay network");
        }
        let failed = created.is_err();
        report.network = Some(created);
        if failed {
            return report;
        }
    }
    for t in &plan.tenants {
        let result = match &t.action {
            Action::None | Action::Blocked(_) => continue,
            Action::Create(spec) => {
                let spec = (**spec).clone();
                docker
                    .call("service_create", |d| async move {
                        d.create_service(spec, None).await
                    })
                    .await
                    .map(|_| "created")
            }
            Action::Update { spec, version, id } => {
                let (spec, id) = ((**spec).clone(), id.clone());
                let options = bollard::query_parameters::UpdateServiceOptions {
                    version: i32::try_from(*version).unwrap_or(i32::MAX),
                    ..Default::default()
                };
                docker
                    .call("service_update", |d| async move {
                        d.update_service(&id, spec, options, None).await
                    })
                    .await
                    .map(|_| "updated")
            }
        };
        match &result {
            Ok(what) => tracing::info!(tenant = %t.tenant, node = ?t.node, "{what} service"),
            Err(e) => tracing::warn!(tenant = %t.tenant, error = %e, "service change failed"),
        }
        report.tenants.push((t.tenant.clone(), result));
    }
    report
}
