//! Command-line surface (DESIGN.md "Commands"). Exit codes: 0 success,
//! 1 error (invalid file, failed tenant, Docker unreachable), 2 pending
//! changes for `plan --exit-code`.

/// `println!` that ends the process quietly when stdout is gone, so
/// `tenantctl plan | head` stops instead of panicking on a broken pipe.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

mod apply;
mod backup;
mod import;
mod init;
mod logs;
mod plan;
mod progress;
mod restart;
mod rollout;
mod run;
mod status;
mod style;
mod swarm;
mod validate;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tenantctl::desired::DesiredState;
use tenantctl::docker::DockerClient;
use tenantctl::kinds::Backend;

#[derive(Debug, Parser)]
#[command(
    name = "tenantctl",
    version,
    about = "Keep a fleet of single-tenant containers equal to tenants.toml"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// Upper bound for any single Docker API call.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration)]
    docker_timeout: Duration,
    /// Log each action too (`-v` info, `-vv` debug); commands print only
    /// their summary lines and warnings by default (`run` logs at info).
    /// `TENANTCTL_LOG` overrides.
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// This server's name, when the file places tenants on nodes (`node =
    /// "…"`): only the tenants on it are planned, applied, run, backed up
    /// or shown, and only their env files are read.
    #[arg(long, global = true, value_name = "NAME")]
    node: Option<tenantctl::desired::NodeName>,
}

/// The tenants this process works on, set once from `--node` before any
/// command runs (every command that loads the file for a host reads it).
static SERVER: std::sync::OnceLock<tenantctl::desired::Scope> = std::sync::OnceLock::new();

fn server_scope() -> tenantctl::desired::Scope {
    SERVER
        .get()
        .cloned()
        .unwrap_or(tenantctl::desired::Scope::Server(None))
}

impl Cli {
    /// The log level when `TENANTCTL_LOG` says none: human output is the
    /// summary lines; per-action logs are for `-v` (and for `run`, a
    /// daemon whose log is its output).
    pub fn default_log_level(&self) -> &'static str {
        let daemon = matches!(self.command, Command::Run { .. });
        match (self.verbose, daemon) {
            (2.., _) => "debug",
            (1, _) | (0, true) => "info",
            (0, false) => "warn",
        }
    }
}

/// `--adopt` and its settings, on plan, apply and run alike.
#[derive(Debug, Clone, clap::Args)]
struct AdoptArgs {
    /// Take over a container tenantctl did not create when it has the
    /// tenant's container name and exactly its data mounts: it is replaced
    /// by a managed one on the same data, gated on health, put back if the
    /// new one fails.
    #[arg(long)]
    adopt: bool,
    /// Keep each adopted container, stopped, as `<name>-pre-adopt`.
    #[arg(long, requires = "adopt")]
    keep_old: bool,
    /// How long an adopted tenant's new container has to pass its health check.
    #[arg(long, default_value = "120s", value_parser = parse_duration, requires = "adopt")]
    adopt_deadline: Duration,
}

impl AdoptArgs {
    fn adoption(&self) -> Option<tenantctl::plan::Adoption> {
        self.adopt.then(|| tenantctl::plan::Adoption {
            keep_old: self.keep_old,
            deadline_secs: self.adopt_deadline.as_secs().max(1),
        })
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once at startup; boxing would only obscure the clap derive"
)]
enum Command {
    /// Check a tenants file; print PATH:LINE:COL errors and exit 1 if invalid.
    Validate {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Show what apply would change, per tenant and field.
    Plan {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Exit 2 when changes are pending (0 when in sync).
        #[arg(long)]
        exit_code: bool,
        /// Count removal of containers whose tenant left the file.
        #[arg(long)]
        prune: bool,
        #[command(flatten)]
        adopt: AdoptArgs,
    },
    /// Converge the host once; exit 1 if any tenant failed.
    Apply {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Remove our containers whose tenant left the file (volumes are kept).
        #[arg(long)]
        prune: bool,
        /// How many tenants change at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// The host lock, shared with `tenantctl run` (default
        /// /run/lock/tenantctl.lock): while a controller holds it, apply
        /// refuses and names the holder's pid.
        #[arg(long)]
        lock_file: Option<PathBuf>,
        /// Wait up to this long for the host lock instead of refusing.
        #[arg(long, value_parser = parse_duration)]
        wait_lock: Option<Duration>,
        /// Then wait until every changed tenant passes its health check
        /// (exit 1 if one does not within --timeout).
        #[arg(long)]
        wait: bool,
        /// How long --wait waits for each tenant.
        #[arg(long, default_value = "2m", value_parser = parse_duration, requires = "wait")]
        timeout: Duration,
        #[command(flatten)]
        adopt: AdoptArgs,
    },
    /// The controller: keep the host equal to the file, continuously.
    Run {
        /// The tenants file (or, with --git, nothing: see --git-path).
        #[arg(
            short = 'f',
            long = "file",
            required_unless_present = "git",
            conflicts_with = "git"
        )]
        file: Option<PathBuf>,
        /// GitOps: follow this repository (file://, ssh or https URL).
        #[arg(long)]
        git: Option<String>,
        /// Branch to follow.
        #[arg(long, default_value = "main", requires = "git")]
        branch: String,
        /// The tenants file inside the repository.
        #[arg(long, default_value = "desired-state/tenants.toml", requires = "git")]
        git_path: PathBuf,
        /// How often to fetch the branch.
        #[arg(long, default_value = "60s", value_parser = parse_duration, requires = "git")]
        pull_interval: Duration,
        /// The controller's own checkout (default: a directory under the temp dir).
        #[arg(long, requires = "git")]
        checkout: Option<PathBuf>,
        /// Enables `POST /hooks/git`: pushes signed with this secret pull at once.
        #[arg(long, requires = "git")]
        webhook_secret_file: Option<PathBuf>,
        /// Address for /healthz, /readyz and /metrics (loopback by default).
        #[arg(long, default_value = "127.0.0.1:9477")]
        listen: std::net::SocketAddr,
        /// Period of the cheap list-only resync.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        resync: Duration,
        /// Period of the full pass that inspects every container.
        #[arg(long, default_value = "5m", value_parser = parse_duration)]
        verify: Duration,
        /// How many tenants are reconciled at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Remove our containers whose tenant left the file (volumes are kept).
        #[arg(long)]
        prune: bool,
        /// Only one controller may hold this lock per host.
        #[arg(long)]
        lock_file: Option<PathBuf>,
        /// How often per-tenant CPU and memory are read (Docker stats).
        #[arg(long, default_value = "15s", value_parser = parse_duration)]
        stats_interval: Duration,
        /// Do not subscribe to Docker events; rely on the resync alone (for
        /// hosts where a proxy blocks the event stream).
        #[arg(long)]
        no_events: bool,
        /// Plan, report drift and serve metrics, but change nothing (for
        /// the first days on a server taken over).
        #[arg(long, conflicts_with_all = ["prune", "adopt"])]
        observe_only: bool,
        #[command(flatten)]
        adopt: AdoptArgs,
    },
    /// Read a server run with one docker-compose.yml per client (and its
    /// nginx sites) into a tenants file; changes nothing on the host.
    Import(import::ImportArgs),
    /// Back up tenants' data (the chart's backup volumes) into `[backup] dir`.
    Backup(backup::BackupArgs),
    /// List or verify backups.
    Backups {
        #[command(subcommand)]
        command: backup::BackupsCommand,
    },
    /// Make a tenant's data exactly a backup's content; it must then pass
    /// its health check, or its previous data is put back.
    Restore(backup::RestoreArgs),
    /// Delete the volumes of a tenant that has left the file, after a
    /// final backup of them succeeded (nothing else ever deletes them).
    Purge(backup::PurgeArgs),
    /// Scaffold a git repository for a fleet: tenants.toml, the mAI chart,
    /// a CI workflow (validate + plan), the systemd unit.
    Init(init::InitArgs),
    /// Shell completions on stdout: `tenantctl completions bash >
    /// /etc/bash_completion.d/tenantctl`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The man page (roff) on stdout; `make man` writes it to
    /// target/man/tenantctl.1.
    #[command(hide = true)]
    Manpage,
    /// A tenant's container log (or every tenant's, interleaved).
    Logs(logs::LogsArgs),
    /// Restart tenants' containers and wait for their health check; a
    /// running controller waits for each instead of fighting it.
    Restart(restart::RestartArgs),
    /// The fleet's last rollout: status, or resume a halted one.
    Rollout {
        #[command(subcommand)]
        command: rollout::RolloutCommand,
    },
    /// One row per tenant: desired, running, healthy, in sync, drift.
    Status {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[arg(long)]
        json: bool,
        /// Look again every interval (default 2s), redrawn in place on a
        /// terminal, until interrupted.
        #[arg(long, num_args = 0..=1, default_missing_value = "2s", value_parser = parse_duration)]
        watch: Option<Duration>,
    },
}

pub async fn run(cli: Cli) -> ExitCode {
    let timeout = cli.docker_timeout;
    let _ = SERVER.set(tenantctl::desired::Scope::Server(cli.node.clone()));
    match cli.command {
        Command::Validate { file } => validate::run(&file, cli.node).await,
        Command::Import(args) => import::run_import(args.into()),
        Command::Backup(args) => backup::run_backup(args, timeout).await,
        Command::Backups { command } => backup::run_backups(command),
        Command::Rollout { command } => rollout::run(command),
        Command::Logs(args) => logs::run(args, timeout).await,
        Command::Init(args) => init::run(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "tenantctl",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Command::Manpage => {
            use clap::CommandFactory;
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Restart(args) => restart::run(args, timeout).await,
        Command::Restore(args) => backup::run_restore(args, timeout).await,
        Command::Purge(args) => backup::run_purge(args, timeout).await,
        Command::Plan {
            file,
            json,
            exit_code,
            prune,
            adopt,
        } if backend_of(&file) == Some(Backend::Swarm) => {
            if let Err(code) = swarm::refuse_host_flags(prune, adopt.adopt) {
                return code;
            }
            match load_any(&file) {
                Ok(desired) => swarm::plan(desired, json, exit_code, timeout).await,
                Err(code) => code,
            }
        }
        Command::Apply {
            file,
            prune,
            lock_file,
            wait_lock,
            wait,
            timeout: health_timeout,
            adopt,
            ..
        } if backend_of(&file) == Some(Backend::Swarm) => {
            if let Err(code) = swarm::refuse_host_flags(prune, adopt.adopt) {
                return code;
            }
            // The same lock as `run` on this manager: apply and a
            // controller never push specs at once.
            let _lock = match host_lock(lock_file, wait_lock) {
                Ok(lock) => lock,
                Err(code) => return code,
            };
            match load_any(&file) {
                Ok(desired) => swarm::apply(desired, wait.then_some(health_timeout), timeout).await,
                Err(code) => code,
            }
        }
        Command::Status { file, json, .. } if backend_of(&file) == Some(Backend::Swarm) => {
            match load_any(&file) {
                Ok(desired) => swarm::status(desired, json, timeout).await,
                Err(code) => code,
            }
        }
        Command::Plan {
            file,
            json,
            exit_code,
            prune,
            adopt,
        } => plan::run(&file, json, exit_code, prune, adopt.adoption(), timeout).await,
        Command::Apply {
            file,
            prune,
            concurrency,
            lock_file,
            wait_lock,
            wait,
            timeout: health_timeout,
            adopt,
        } => {
            let _lock = match host_lock(lock_file, wait_lock) {
                Ok(lock) => lock,
                Err(code) => return code,
            };
            let wait = wait.then_some(health_timeout);
            apply::run(&file, prune, adopt.adoption(), concurrency, wait, timeout).await
        }
        Command::Status { file, json, watch } => status::run(&file, json, watch, timeout).await,
        Command::Run {
            file,
            git,
            branch,
            git_path,
            pull_interval,
            checkout,
            webhook_secret_file,
            listen,
            resync,
            verify,
            concurrency,
            prune,
            lock_file,
            no_events,
            stats_interval,
            observe_only,
            adopt,
        } => {
            let git = git.map(|url| {
                let checkout = checkout.unwrap_or_else(|| {
                    let hash = tenantctl::desired::sha256_hex(url.as_bytes());
                    std::env::temp_dir().join(format!("tenantctl-checkout-{}", &hash[..12]))
                });
                tenantctl::sources::GitSettings {
                    url,
                    branch,
                    path: git_path,
                    pull_interval,
                    checkout,
                    scope: tenantctl::desired::Scope::Fleet,
                }
            });
            let origin = match (
                git.map(|g| tenantctl::sources::GitSettings {
                    scope: server_scope(),
                    ..g
                }),
                file,
            ) {
                (Some(g), _) => tenantctl::sources::Origin::Git(g),
                (None, Some(path)) => tenantctl::sources::Origin::File {
                    path,
                    poll: Duration::from_secs(1),
                    scope: server_scope(),
                },
                (None, None) => unreachable!("clap requires --file or --git"),
            };
            let webhook_secret = match webhook_secret_file.map(std::fs::read_to_string).transpose()
            {
                Ok(Some(secret)) if secret.trim().is_empty() => {
                    eprintln!("error: --webhook-secret-file is empty; an empty secret would let anyone trigger pulls. Put a long random secret in it.");
                    return ExitCode::FAILURE;
                }
                Ok(secret) => secret.map(|s| s.trim_end_matches(['\n', '\r']).as_bytes().to_vec()),
                Err(e) => {
                    eprintln!("error: cannot read --webhook-secret-file: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let settings = tenantctl::controller::Settings {
                intervals: tenantctl::controller::Intervals { resync, verify },
                concurrency,
                prune,
                adopt: adopt.adoption(),
                observe_only,
                stats_interval,
                shutdown_grace: Duration::from_secs(10),
            };
            run::run(run::RunArgs {
                webhook_secret,
                origin,
                events: !no_events,
                settings,
                listen,
                lock_file,
                docker_timeout: timeout,
            })
            .await
        }
    }
}

/// Libraries whose debug output prints request and response bodies: the
/// Docker client dumps create bodies and inspect replies, i.e. every
/// tenant's env with its secrets. They stay at `info` whatever
/// `TENANTCTL_LOG` says, unless `TENANTCTL_LOG_BODIES=1` lifts the cap
/// knowingly (on a machine whose logs are as private as its secrets).
const BODY_LOGGING_TARGETS: [&str; 5] = ["bollard", "hyper", "hyper_util", "h2", "reqwest"];

pub fn init_logging(format: LogFormat, default_level: &str) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("TENANTCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    if std::env::var_os("TENANTCTL_LOG_BODIES").is_none_or(|v| v != "1") {
        for target in BODY_LOGGING_TARGETS {
            if let Ok(directive) = format!("{target}=info").parse() {
                filter = filter.add_directive(directive);
            }
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    tenantctl::quantity::parse_duration(text).map(|ns| Duration::from_nanos(ns as u64))
}

/// Loads this server's tenants (see `--node`) or prints every error and
/// yields exit code 1. For the commands that work on one host's
/// containers: a Swarm fleet is refused with a clear word.
fn load(file: &std::path::Path) -> Result<DesiredState, ExitCode> {
    let desired = load_scoped(file, &server_scope())?;
    if desired.backend == Backend::Swarm {
        eprintln!("error: this command works on one host's containers; the file's backend is \"swarm\" (plan, apply, status and run drive a Swarm fleet; for the rest use `docker service …` on a manager)");
        return Err(ExitCode::FAILURE);
    }
    Ok(desired)
}

/// The host lock `apply` holds for its whole run (shared with `run`),
/// waiting up to `wait_lock`; a refusal is printed.
fn host_lock(
    lock_file: Option<PathBuf>,
    wait_lock: Option<Duration>,
) -> Result<tenantctl::lock::InstanceLock, ExitCode> {
    let lock_path = lock_file.unwrap_or_else(tenantctl::lock::default_lock_path);
    let patience = wait_lock.unwrap_or(Duration::ZERO);
    tenantctl::lock::acquire_waiting(&lock_path, patience).map_err(|e| {
        eprintln!("error: {e}");
        eprintln!("nothing was changed.");
        ExitCode::FAILURE
    })
}

/// [`load`] whatever the backend.
fn load_any(file: &std::path::Path) -> Result<DesiredState, ExitCode> {
    load_scoped(file, &server_scope())
}

/// The file's backend, when it loads (errors are printed by the load
/// that follows).
fn backend_of(file: &std::path::Path) -> Option<Backend> {
    tenantctl::load::load_desired_for(file, &server_scope())
        .ok()
        .map(|d| d.backend)
}

fn load_scoped(
    file: &std::path::Path,
    scope: &tenantctl::desired::Scope,
) -> Result<DesiredState, ExitCode> {
    tenantctl::load::load_desired_for(file, scope).map_err(|diags| {
        eprintln!("{diags}");
        eprintln!("{} error(s); nothing was changed.", diags.0.len());
        ExitCode::FAILURE
    })
}

/// The first steps of plan, apply and status: load the file, connect to
/// Docker and observe the host in full. Errors are printed; nothing changes.
async fn load_and_observe(
    file: &std::path::Path,
    timeout: Duration,
) -> Result<
    (
        DesiredState,
        DockerClient,
        tenantctl::observe::ObservedState,
    ),
    ExitCode,
> {
    let desired = load(file)?;
    let docker = connect(timeout).await?;
    let observed = tenantctl::observe::observe(&docker, &desired, tenantctl::observe::Detail::Full)
        .await
        .map_err(|e| {
            eprintln!("error: cannot read the Docker host, nothing was changed: {e}");
            ExitCode::FAILURE
        })?;
    Ok((desired, docker, observed))
}

/// The host's plan, proxy included (what `plan` prints and `apply`
/// executes). Errors are printed.
async fn host_plan(
    desired: &DesiredState,
    observed: &tenantctl::observe::ObservedState,
    prune: bool,
    adopt: Option<tenantctl::plan::Adoption>,
) -> Result<tenantctl::plan::Plan, ExitCode> {
    let current = tenantctl::proxy::current(desired).await.map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    })?;
    let options = tenantctl::plan::Options {
        prune,
        adopt,
        proxy: tenantctl::plan::ProxyView::AfterApply,
    };
    Ok(tenantctl::plan::plan_host(
        desired, observed, &current, options,
    ))
}

async fn connect(timeout: Duration) -> Result<DockerClient, ExitCode> {
    DockerClient::connect(timeout).await.map_err(|e| {
        eprintln!("error: {e}");
        eprintln!(
            "hint: is the Docker daemon running, and may this user use its socket (DOCKER_HOST)?"
        );
        ExitCode::FAILURE
    })
}

/// Warns (stderr) when the fleet reserves more memory than the Docker
/// host has; says nothing when the host cannot be asked.
async fn warn_capacity(docker: &DockerClient, desired: &DesiredState) {
    let info = docker.call("info", |d| async move { d.info().await }).await;
    if let Some(warning) = info
        .ok()
        .and_then(|i| i.mem_total)
        .and_then(|total| tenantctl::capacity::memory_warning(desired, total))
    {
        eprintln!("warning: {warning}");
    }
}

/// The tenants named (or all of them): an unknown name is an error.
fn pick<'a>(
    desired: &'a DesiredState,
    names: &[String],
    all: bool,
) -> Result<Vec<&'a tenantctl::desired::DesiredTenant>, ExitCode> {
    if all {
        return Ok(desired.tenants.values().map(|t| &**t).collect());
    }
    names
        .iter()
        .map(|n| {
            desired.tenants.get(n).map(|t| &**t).ok_or_else(|| {
                eprintln!("error: tenant `{n}` is not in the file");
                ExitCode::FAILURE
            })
        })
        .collect()
}
