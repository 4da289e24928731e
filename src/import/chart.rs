//! The chart import compares each client against, as plain values with
//! the defaults the resolver gives (so "same as the chart" means the same
//! container).

use crate::desired::defaults;
use crate::quantity::{parse_cpus, parse_duration, parse_memory};
use crate::spec::RawChart;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default)]
pub struct Chart {
    pub image: String,
    pub container_port: u16,
    pub restart: String,
    pub stop_timeout_secs: i64,
    /// Env templates (`{display_name}` etc. unrendered).
    pub env: BTreeMap<String, String>,
    pub sensitive_env: BTreeSet<String>,
    /// Volume key → container path.
    pub volumes: BTreeMap<String, String>,
    pub nano_cpus: i64,
    pub memory: i64,
    pub memory_reservation: i64,
    pub health_command: Vec<String>,
    pub interval_ns: i64,
    pub timeout_ns: i64,
    pub retries: i64,
    pub start_period_ns: i64,
}

impl Chart {
    /// From a chart that `tenantctl validate` accepts (values it would
    /// reject fall back to the resolver's defaults).
    pub fn from_raw(raw: &RawChart) -> Chart {
        let text = |v: &Option<crate::spec::Spanned<crate::spec::ScalarValue>>| {
            v.as_ref().map(|s| s.get_ref().as_text())
        };
        let dur = |v: &Option<crate::spec::Spanned<String>>, default: i64| {
            v.as_ref()
                .and_then(|s| parse_duration(s.get_ref()).ok())
                .unwrap_or(default)
        };
        Chart {
            image: raw
                .image
                .as_ref()
                .map(|i| i.get_ref().clone())
                .unwrap_or_default(),
            container_port: raw
                .container_port
                .as_ref()
                .map_or(8080, |p| *p.get_ref() as u16),
            restart: raw
                .restart
                .as_ref()
                .map_or("no".into(), |r| r.get_ref().clone()),
            stop_timeout_secs: raw
                .stop_timeout
                .as_ref()
                .map_or(defaults::STOP_TIMEOUT_SECS, |t| *t.get_ref()),
            env: raw
                .env
                .iter()
                .map(|(k, v)| (k.get_ref().clone(), v.get_ref().as_env_string()))
                .collect(),
            sensitive_env: raw
                .sensitive_env
                .iter()
                .map(|k| k.get_ref().clone())
                .collect(),
            volumes: raw
                .volumes
                .iter()
                .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone()))
                .collect(),
            nano_cpus: text(&raw.resources.cpus)
                .and_then(|c| parse_cpus(&c).ok())
                .unwrap_or(0),
            memory: text(&raw.resources.memory)
                .and_then(|m| parse_memory(&m).ok())
                .unwrap_or(0),
            memory_reservation: text(&raw.resources.memory_reservation)
                .and_then(|m| parse_memory(&m).ok())
                .unwrap_or(0),
            health_command: raw.health.command.clone().unwrap_or_default(),
            interval_ns: dur(&raw.health.interval, defaults::HEALTH_INTERVAL_NS),
            timeout_ns: dur(&raw.health.timeout, defaults::HEALTH_TIMEOUT_NS),
            retries: raw
                .health
                .retries
                .as_ref()
                .map_or(defaults::HEALTH_RETRIES, |r| *r.get_ref()),
            start_period_ns: dur(&raw.health.start_period, 0),
        }
    }

    /// An env template rendered for one tenant, as the resolver does.
    pub fn render(
        template: &str,
        tenant: &str,
        display_name: &str,
        domain: &str,
        port: u16,
    ) -> String {
        template
            .replace("{display_name}", display_name)
            .replace("{tenant}", tenant)
            .replace("{domain}", domain)
            .replace("{port}", &port.to_string())
    }
}
