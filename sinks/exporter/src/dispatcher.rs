//! The dispatcher (docs/exporter.md "The dispatcher: phases A, B, C"): claims due ledger rows with a lease and makes
//! the remote calls, apart from the consumer so a slow tracker never stalls a partition.
//!
//! Per row: `pending` → phase A (`creating`, attempt recorded, committed) → create → phase C
//! (`created`, remote id). A row found in `creating` or `ambiguous` (a crash, a timeout, a 5xx)
//! is reconciled by its marker before any new create; Jira's search lags, so it is searched only
//! after `lag_grace` since the attempt began.

use std::collections::HashMap;
use std::time::Duration;

use friction_store::Store;

use crate::body::{recurrence_comment, ticket_content, unconfirmed_comment};
use crate::integration::{self as integrations, list_integrations, open_breaker, set_health, Integration, Kind};
use crate::ledger::{self, Link, Update, AMBIGUOUS, CREATED, CREATING, FAILED, PENDING};
use crate::outcome::{note, BreakerPolicy, Class, Event, Health, Note, RetryPolicy};
use crate::secret::{MasterKey, Secret};
use crate::targets::{CallError, Remote, Target};
use crate::ExportError;

/// How a dispatcher runs.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// This copy's name in leases; unique per process.
    pub owner: String,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub batch: i64,
    pub retry: RetryPolicy,
    /// The integration-wide backoff and the automatic breaker on transient failures.
    pub breaker: BreakerPolicy,
    /// How long after an attempt began Jira's search is trusted to show its issue.
    pub jira_lag_grace: Duration,
    pub request_timeout: Duration,
    /// The console's public URL, for links in tickets.
    pub console_url: Option<String>,
    /// Let webhooks go to private addresses regardless of the integration (tests only).
    pub allow_private_network: bool,
    /// An OpenAI-compatible endpoint that writes the explanation (deterministic when absent or failing).
    pub llm: Option<crate::llm::LlmConfig>,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            owner: format!("exporter-{}", hex::encode(rand::random::<[u8; 6]>())),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(500),
            batch: 32,
            retry: RetryPolicy::default(),
            breaker: BreakerPolicy::default(),
            jira_lag_grace: Duration::from_secs(120),
            request_timeout: Duration::from_secs(15),
            console_url: None,
            allow_private_network: false,
            llm: None,
        }
    }
}

/// Claims and works ledger rows.
#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    key: MasterKey,
    config: DispatcherConfig,
    http: reqwest::Client,
    /// Integrations that answered 429 or are backing off, and until when (epoch ms) this copy
    /// leaves them alone (the ledger and `integrations.retry_at` tell the other copies).
    paused: std::sync::Arc<std::sync::Mutex<HashMap<String, i64>>>,
    /// Woken by the consumer of the same process when it wrote ledger rows ([`Dispatcher::waker`]).
    wake: std::sync::Arc<tokio::sync::Notify>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn unit() -> f64 {
    rand::random::<f64>()
}

impl Dispatcher {
    pub fn new(store: Store, key: MasterKey, config: DispatcherConfig) -> Result<Self, ExportError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(crate::targets::connect_timeout(config.request_timeout))
            .build()
            .map_err(|e| ExportError::Invalid(format!("HTTP client: {}", e.without_url())))?;
        Ok(Dispatcher { store, key, config, http, paused: Default::default(), wake: Default::default() })
    }

    /// What wakes this dispatcher at once: the consumer notifies it after writing ledger rows, so
    /// a new ticket's remote call starts as soon as its row is durable instead of at the next poll
    /// (docs/architecture.md §4 "Time: decide early, settle later": no idle time on the hot path).
    pub fn waker(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    pub fn config(&self) -> &DispatcherConfig {
        &self.config
    }

    /// Runs until the task is dropped or aborted: a round at once when woken ([`Dispatcher::waker`]),
    /// else every `poll_interval` (rows due later: retries, throttled comments, other processes'
    /// rows). Store errors are logged and retried.
    pub async fn run(self) {
        loop {
            match self.run_once().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "exporter dispatcher round failed; retrying"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.poll_interval) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    /// One round: probe the integrations whose cool-down is over, claim due rows and work them;
    /// the number of rows worked.
    pub async fn run_once(&self) -> Result<usize, ExportError> {
        let now = friction_runtime::now_ms();
        let integrations: HashMap<String, Integration> =
            list_integrations(&self.store).await?.into_iter().map(|i| (i.id.clone(), i)).collect();
        for integration in integrations.values() {
            metrics::gauge!("friction_export_breaker_state", "integration" => integration.name.clone())
                .set(integration.health.breaker.gauge());
            metrics::gauge!("friction_export_integration_failures", "integration" => integration.name.clone())
                .set(f64::from(integration.health.failures));
            if integration.enabled && integration.health.probe_due(now) {
                self.probe(integration).await?;
            }
        }
        let rows =
            ledger::claim(&self.store, &self.config.owner, now, ms(self.config.lease), self.config.batch).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let n = rows.len();
        for row in rows {
            let Some(integration) = integrations.get(&row.key.integration_id) else {
                continue;
            };
            let paused_until = self.paused.lock().ok().and_then(|p| p.get(&integration.id).copied());
            if let Some(until) = paused_until.filter(|&u| u > friction_runtime::now_ms()) {
                // The integration is rate limited or backing off: this row waits as well, without a call.
                self.update(&row, Update { next_attempt_at: Some(until), ..Default::default() }).await?;
                continue;
            }
            if let Err(e) = self.work(integration, row).await {
                tracing::warn!(error = %e, integration = %integration.name, "exporting a ticket failed; the row is retried after its lease");
            }
        }
        Ok(n)
    }

    /// Records `event` in the integration's health (docs/exporter.md "Circuit breaker"): the pure
    /// decision (`BreakerPolicy::next`), written only if no other copy changed it meanwhile (else
    /// re-read and decided again). One log line per change of state, never one per call. Returns
    /// the health now and whether this copy made the change.
    async fn observe(
        &self,
        integration: &Integration,
        event: Event,
        error: Option<&str>,
    ) -> Result<(Health, bool), ExportError> {
        let mut current = integration.health;
        for _ in 0..8 {
            let now = friction_runtime::now_ms();
            let next = self.config.breaker.next(current, event, now, unit());
            if next == current {
                return Ok((current, false));
            }
            if set_health(&self.store, &integration.id, &current, &next, error).await? {
                self.noted(integration, &current, &next, error);
                if !next.callable(now) {
                    if let Ok(mut paused) = self.paused.lock() {
                        paused.insert(integration.id.clone(), next.retry_at);
                    }
                }
                return Ok((next, true));
            }
            match integrations::integration(&self.store, &integration.id).await? {
                Some(fresh) => current = fresh.health,
                None => return Ok((current, false)),
            }
        }
        Ok((current, false))
    }

    /// The log line and metrics of a change of an integration's health.
    fn noted(&self, integration: &Integration, old: &Health, new: &Health, error: Option<&str>) {
        let name = integration.name.clone();
        metrics::gauge!("friction_export_breaker_state", "integration" => name.clone()).set(new.breaker.gauge());
        metrics::gauge!("friction_export_integration_failures", "integration" => name.clone())
            .set(f64::from(new.failures));
        let wait_ms = new.retry_at.saturating_sub(friction_runtime::now_ms()).max(0);
        let error = error.unwrap_or("none");
        match note(old, new) {
            Some(Note::Failing) => {
                tracing::warn!(integration = %name, wait_ms, error, "integration failing; backing off (next line when it opens the breaker or recovers)")
            }
            Some(Note::Opened) => {
                metrics::counter!("friction_export_breaker_opened_total", "integration" => name.clone()).increment(1);
                tracing::warn!(integration = %name, failures = new.failures, cooldown_ms = wait_ms, error, "integration unreachable; circuit breaker open, cooling down before one probe");
            }
            Some(Note::ProbeFailed) => {
                tracing::warn!(integration = %name, failures = new.failures, cooldown_ms = wait_ms, error, "integration still unreachable; cooling down again, longer");
            }
            Some(Note::Recovered) => {
                tracing::info!(integration = %name, failures = old.failures, "integration answers again; circuit breaker closed");
            }
            None => {}
        }
    }

    /// The one probe of a cooled-down integration: its credentials check (no ticket is made). An
    /// answer closes the breaker; a transient failure cools it down again, longer; a configuration
    /// error opens it for a person.
    async fn probe(&self, integration: &Integration) -> Result<(), ExportError> {
        let (_, taken) = self.observe(integration, Event::ProbeStarted, None).await?;
        if !taken {
            return Ok(()); // another copy probes
        }
        let secret = match integration.secret(&self.key) {
            Ok(s) => s,
            Err(e) => return open_breaker(&self.store, &integration.id, &e.to_string()).await,
        };
        let target = self.target(integration, secret);
        let result = target.check().await;
        let outcome = result.as_ref().map(|_| Class::Success).unwrap_or_else(|e| e.class);
        metrics::counter!("friction_export_probes_total", "integration" => integration.name.clone(), "outcome_class" => outcome.as_str()).increment(1);
        // Re-read: the probe's lease is in the store now.
        let Some(fresh) = integrations::integration(&self.store, &integration.id).await? else {
            return Ok(());
        };
        match result {
            Err(e) if e.class.is_transient() => {
                self.counted_failure(integration, &e);
                self.observe(&fresh, Event::ProbeFailed, Some(&e.to_string())).await?;
            }
            Err(e) if e.class == Class::Configuration => {
                tracing::error!(integration = %integration.name, error = %e, "integration misconfigured; circuit breaker open until it is fixed");
                open_breaker(&self.store, &integration.id, &e.to_string()).await?;
            }
            _ => {
                self.observe(&fresh, Event::Answered, None).await?;
            }
        }
        Ok(())
    }

    /// `integration`'s tracker, called with this dispatcher's client and settings.
    fn target<'a>(&'a self, integration: &'a Integration, secret: Secret) -> Target<'a> {
        Target {
            integration,
            secret,
            http: &self.http,
            timeout: self.config.request_timeout,
            allow_private_network: self.config.allow_private_network,
        }
    }

    fn counted_failure(&self, integration: &Integration, e: &CallError) {
        metrics::counter!("friction_export_failures_total", "target" => integration.kind.as_str(), "class" => e.class.as_str())
            .increment(1);
    }

    /// The integration answered: closes a cooling breaker, clears the failures (no write when healthy).
    async fn answered(&self, integration: &Integration) -> Result<(), ExportError> {
        if integration.health != Health::HEALTHY {
            self.observe(integration, Event::Answered, None).await?;
        }
        Ok(())
    }

    async fn update(&self, row: &Link, update: Update<'_>) -> Result<bool, ExportError> {
        let applied =
            ledger::apply(&self.store, &row.key, &self.config.owner, update, friction_runtime::now_ms()).await?;
        if !applied {
            tracing::warn!(incident = %row.key.incident_id, "lost the lease on a ticket row; another copy has it");
        }
        Ok(applied)
    }

    async fn work(&self, integration: &Integration, row: Link) -> Result<(), ExportError> {
        let secret = match integration.secret(&self.key) {
            Ok(s) => s,
            Err(e) => {
                open_breaker(&self.store, &integration.id, &e.to_string()).await?;
                self.update(&row, Update::default()).await?;
                return Ok(());
            }
        };
        let target = self.target(integration, secret);
        let now = friction_runtime::now_ms();
        if row.state != CREATED && self.config.retry.expired(row.created_at, now) {
            // An earlier attempt may have made the ticket: look once more before giving up.
            if row.state == CREATING || row.state == AMBIGUOUS {
                if let Ok(Some(remote)) = target.find(&row.marker).await {
                    return self.created(&row, remote).await;
                }
            }
            let summary = format!(
                "gave up: no ticket confirmed within the maximum age (last error: {})",
                row.last_error_summary.as_deref().unwrap_or("none")
            );
            tracing::error!(integration = %integration.name, incident = %row.key.incident_id, "ticket export expired");
            metrics::counter!("friction_export_dead_total", "target" => integration.kind.as_str()).increment(1);
            self.update(&row, Update { state: Some(FAILED), error: Some(("expired", summary)), ..Default::default() })
                .await?;
            return Ok(());
        }
        match row.state.as_str() {
            CREATED => self.follow_up(&target, &row).await,
            PENDING => self.create(&target, row).await,
            CREATING | AMBIGUOUS => {
                if integration.kind == Kind::Jira {
                    let began = row.attempt_started_at.unwrap_or(row.created_at);
                    let trusted_at = began.saturating_add(ms(self.config.jira_lag_grace));
                    if now < trusted_at {
                        // Jira's search may not show an issue created moments ago yet.
                        self.update(&row, Update { next_attempt_at: Some(trusted_at), ..Default::default() }).await?;
                        return Ok(());
                    }
                }
                metrics::counter!("friction_export_reconciles_total", "target" => integration.kind.as_str())
                    .increment(1);
                let found = target.find(&row.marker).await;
                if found.is_ok() {
                    self.answered(integration).await?;
                }
                match found {
                    Ok(Some(remote)) => {
                        metrics::counter!("friction_export_reconcile_found_total", "target" => integration.kind.as_str()).increment(1);
                        tracing::info!(integration = %integration.name, incident = %row.key.incident_id, ticket = %remote.key, "found the ticket of an earlier attempt");
                        self.created(&row, remote).await
                    }
                    Ok(None) => self.create(&target, row).await,
                    Err(e) => self.failed(&target, &row, e, false).await,
                }
            }
            _ => {
                self.update(&row, Update::default()).await?;
                Ok(())
            }
        }
    }

    async fn create(&self, target: &Target<'_>, row: Link) -> Result<(), ExportError> {
        // Phase A: the attempt is durable before the call.
        let attempt = uuid::Uuid::new_v4().to_string();
        let started = friction_runtime::now_ms();
        if !self
            .update(
                &row,
                Update {
                    state: Some(CREATING),
                    attempt: Some((attempt, started)),
                    keep_lease: true,
                    ..Default::default()
                },
            )
            .await?
        {
            return Ok(());
        }
        let explanation = crate::llm::explanation(&self.http, self.config.llm.as_ref(), &row.snapshot).await;
        let content = ticket_content(&row.snapshot, &row.marker, self.config.console_url.as_deref(), Some(explanation));
        let result = target.create(&content, &row.marker, &row.snapshot, row.key.generation).await;
        metrics::counter!("friction_export_attempts_total", "target" => target.integration.kind.as_str(),
            "outcome_class" => result.as_ref().map(|_| Class::Success).unwrap_or_else(|e| e.class).as_str())
        .increment(1);
        if result.as_ref().map_or_else(|e| !e.class.is_transient(), |_| true) {
            self.answered(target.integration).await?;
        }
        match result {
            Ok(remote) => self.created(&row, remote).await,
            Err(e) => self.failed(target, &row, e, true).await,
        }
    }

    /// Phase C.
    async fn created(&self, row: &Link, remote: Remote) -> Result<(), ExportError> {
        tracing::info!(incident = %row.key.incident_id, integration = %row.key.integration_id, ticket = %remote.key, "ticket exported");
        let external = Some((remote.id, remote.key, remote.url));
        if self
            .update(
                row,
                Update { state: Some(CREATED), external, clear_error: true, keep_lease: true, ..Default::default() },
            )
            .await?
        {
            ledger::set_reported(&self.store, &row.key, row.snapshot.occurrences).await?;
            // A comment may have been asked for while the ticket was being made; its time stands.
            self.update(row, Update::default()).await?;
        }
        Ok(())
    }

    async fn failed(&self, target: &Target<'_>, row: &Link, e: CallError, was_create: bool) -> Result<(), ExportError> {
        let integration = target.integration;
        let now = friction_runtime::now_ms();
        let attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX);
        // This failure counted: a create in phase A, any other call here (`count_attempt`).
        let attempts_now = attempts.saturating_add(1);
        let class = e.class.as_str();
        self.counted_failure(integration, &e);
        if e.class.is_transient() {
            // The integration backs off as a whole, and its breaker opens after enough of these.
            self.observe(integration, Event::Transient, Some(&e.to_string())).await?;
        }
        match e.class {
            Class::Success => Ok(()),
            Class::RateLimited => {
                // Not executed: back to pending (a create) or as it was (a search).
                let wait = self.config.retry.rate_limited_wait(e.retry_after, attempts, unit());
                metrics::counter!("friction_export_rate_limited_total", "target" => integration.kind.as_str())
                    .increment(1);
                tracing::info!(integration = %integration.name, wait_ms = ms(wait), "rate limited; waiting");
                // The whole integration waits: every due row of it, in this copy and in the ledger.
                let until = now + ms(wait);
                if let Ok(mut paused) = self.paused.lock() {
                    paused.insert(integration.id.clone(), until);
                }
                ledger::pause_integration(&self.store, &integration.id, until, now).await?;
                let state = if was_create { Some(PENDING) } else { None };
                self.update(
                    row,
                    Update {
                        state,
                        next_attempt_at: Some(now + ms(wait)),
                        error: Some((class, e.summary)),
                        ..Default::default()
                    },
                )
                .await?;
                Ok(())
            }
            Class::Unreachable | Class::Ambiguous => {
                // The row's own backoff grows with its failed calls; the integration's (above)
                // with the failures of all its rows. One log line per change of the integration's
                // state (`observe`), not per call.
                let wait = self.config.retry.backoff(attempts_now, unit()).max(Duration::from_millis(50));
                let state = match e.class {
                    Class::Ambiguous => {
                        metrics::counter!("friction_export_ambiguous_total", "target" => integration.kind.as_str())
                            .increment(1);
                        tracing::debug!(integration = %integration.name, incident = %row.key.incident_id, error = %e, "ticket call ambiguous; will reconcile before retrying");
                        was_create.then_some(AMBIGUOUS)
                    }
                    // Nothing reached the tracker: a create is simply still to be made.
                    _ => {
                        tracing::debug!(integration = %integration.name, incident = %row.key.incident_id, error = %e, "tracker unreachable; retrying later");
                        was_create.then_some(PENDING)
                    }
                };
                self.update(
                    row,
                    Update {
                        state,
                        next_attempt_at: Some(now + ms(wait)),
                        error: Some((class, e.summary)),
                        count_attempt: !was_create,
                        ..Default::default()
                    },
                )
                .await?;
                Ok(())
            }
            Class::Permanent => {
                tracing::error!(integration = %integration.name, incident = %row.key.incident_id, error = %e, "ticket rejected; dead-lettered in the ledger");
                metrics::counter!("friction_export_dead_total", "target" => integration.kind.as_str()).increment(1);
                self.update(row, Update { state: Some(FAILED), error: Some((class, e.summary)), ..Default::default() })
                    .await?;
                Ok(())
            }
            Class::Configuration => {
                tracing::error!(integration = %integration.name, error = %e, "integration misconfigured; circuit breaker open until it is fixed");
                open_breaker(&self.store, &integration.id, &e.to_string()).await?;
                let state = if was_create { Some(PENDING) } else { None };
                self.update(row, Update { state, error: Some((class, e.summary)), ..Default::default() }).await?;
                Ok(())
            }
        }
    }

    /// A failed comment or reopen on a created ticket: the ticket stays `created`. A permanent
    /// refusal (e.g. Jira's per-issue comment limit, 413) drops this comment; everything else is
    /// handled as for a create (wait, back off, or open the breaker).
    async fn follow_up_failed(&self, target: &Target<'_>, row: &Link, e: CallError) -> Result<(), ExportError> {
        if e.class != Class::Permanent {
            return self.failed(target, row, e, false).await;
        }
        tracing::warn!(integration = %target.integration.name, error = %e, "follow-up on a ticket refused; not retried");
        let now = friction_runtime::now_ms();
        let update = Update {
            commented: Some((row.snapshot.occurrences, now, row.incident_version)),
            reopened: true,
            error: Some((e.class.as_str(), e.summary)),
            ..Default::default()
        };
        self.update(row, update).await?;
        Ok(())
    }

    /// A created ticket: reopen and/or a coalesced recurrence comment.
    async fn follow_up(&self, target: &Target<'_>, row: &Link) -> Result<(), ExportError> {
        let remote = Remote {
            id: row.external_id.clone().unwrap_or_default(),
            key: row.external_key.clone().unwrap_or_default(),
            url: row.external_url.clone().unwrap_or_default(),
        };
        if row.reopen_wanted {
            if let Err(e) = target.reopen(&remote).await {
                return self.follow_up_failed(target, row, e).await;
            }
            if !self.update(row, Update { reopened: true, keep_lease: true, ..Default::default() }).await? {
                return Ok(());
            }
        }
        let now = friction_runtime::now_ms();
        // Stable until this comment succeeds (reported_occurrences and last_commented_at change
        // only then), so a retried comment is recognised on the ticket. The snapshot says which
        // comment: an incident open again was un-confirmed by a retraction (`ledger::unconfirms`).
        let unconfirmed = row.snapshot.status == "open";
        let (comment_id, text, event) = if unconfirmed {
            let id = format!("{}_u{}_{}", row.marker, row.reported_occurrences, row.last_commented_at.unwrap_or(0));
            (id.clone(), format!("{} (ref {id})", unconfirmed_comment(&row.snapshot)), "incident.unconfirmed")
        } else {
            let id = format!("{}_r{}", row.marker, row.reported_occurrences);
            let text = format!("{} (ref {id})", recurrence_comment(&row.snapshot, row.reported_occurrences));
            (id, text, "incident.recurred")
        };
        let already = if row.last_error_class.as_deref() == Some(Class::Ambiguous.as_str()) {
            match target.has_comment(&remote, &comment_id).await {
                Ok(found) => found,
                Err(e) => return self.follow_up_failed(target, row, e).await,
            }
        } else {
            false
        };
        if !already {
            if let Err(e) = target.comment_event(&remote, &text, &comment_id, event).await {
                return self.follow_up_failed(target, row, e).await;
            }
        }
        self.answered(target.integration).await?;
        metrics::counter!("friction_export_comments_total", "target" => target.integration.kind.as_str()).increment(1);
        self.update(
            row,
            Update {
                commented: Some((row.snapshot.occurrences, now, row.incident_version)),
                clear_error: true,
                ..Default::default()
            },
        )
        .await?;
        Ok(())
    }
}
