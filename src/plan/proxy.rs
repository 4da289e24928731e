//! The proxy part of a plan, as data: the nginx files tenantctl wants, the
//! tenants answered with the 503 page, and the diff against the files on
//! disk. Pure: the caller reads the current files (IO) and passes them in.

use crate::desired::DesiredState;
use crate::observe::ObservedState;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Which 503 set to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyView {
    /// What the host will look like after the plan's tenant steps ran
    /// (`plan` and `apply` preview: stopped containers will be started).
    AfterApply,
    /// The host as observed now (a controller pass, which does not run
    /// tenant steps itself).
    AsObserved,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyPlan {
    /// Which 503 set `files` was rendered with.
    #[serde(skip)]
    pub view: ProxyView,
    /// File name → content of every `tenantctl-*.conf` file wanted.
    #[serde(skip)]
    pub files: BTreeMap<String, String>,
    /// Tenants whose virtual host answers with the 503 page.
    pub unavailable: BTreeSet<String>,
    /// Unified diff from the files on disk; `None` when they are equal.
    pub diff: Option<String>,
}

impl ProxyPlan {
    pub fn is_empty(&self) -> bool {
        self.diff.is_none()
    }
}

/// The proxy plan, or `None` when the file configures no proxy.
pub fn plan_proxy(
    desired: &DesiredState,
    observed: &ObservedState,
    current: &crate::proxy::ProxyHost,
    view: ProxyView,
) -> Option<ProxyPlan> {
    let spec = desired.proxy.as_ref()?;
    let unavailable = match view {
        ProxyView::AfterApply => crate::proxy::expected_unavailable(desired, observed),
        ProxyView::AsObserved => crate::proxy::unavailable(desired, observed),
    };
    let files = crate::proxy::render(desired, spec, &unavailable, &current.certified);
    let diff = crate::proxy::unified_diff(&current.files, &files);
    Some(ProxyPlan {
        view,
        files,
        unavailable,
        diff: (!diff.is_empty()).then_some(diff),
    })
}
