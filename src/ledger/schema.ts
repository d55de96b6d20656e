import type { Generated } from 'kysely';

/**
 * Ledger tables. Money and token amounts are integers (micro-USD, tokens); timestamps are ISO-8601
 * UTC strings, which sort correctly as text on both SQLite and PostgreSQL.
 */
export interface LedgerDatabase {
  ledger_meta: { key: string; value: string };
  /** Provider attempts that failed after streaming: the provider bills them, so the run pays for them. */
  provider_attempts: {
    run_id: string;
    attempt: number;
    input_tokens: number;
    output_tokens: number;
    failure: string;
    created_at: string;
  };
  /** Every routing decision, for runs (keyed by run id) and for plans asked for through the API. */
  routing_decisions: {
    decision_id: string;
    run_id: string | null;
    tenant_id: string;
    principal_id: string;
    task_class: string;
    mode: string;
    requested_model: string | null;
    selected_model: string;
    action: string;
    reason_codes: string;
    decision: string;
    created_at: string;
  };
  pricing_overrides: {
    model_id: string;
    input_micro_usd_per_mtok: number;
    output_micro_usd_per_mtok: number;
    updated_at: string;
  };
  budget_policies: {
    policy_id: string;
    scope_kind: string;
    scope_id: string | null;
    metric: string;
    window: string;
    soft_limit: number | null;
    hard_limit: number;
    action: string;
    enabled: number;
    /** `api` or `config`: config-declared policies are changed in the config file only. */
    source: string;
    created_at: string;
    updated_at: string;
    /**
     * Bumped when the metric, window or scope changes (or the id is re-created after a delete):
     * the policy's windows are then keyed `<period>#g<generation>`, so old spend stays in its own
     * unit and scope. Generation 1 windows keep the plain period key.
     */
    generation: Generated<number>;
  };
  /** Counters bumped by trigger whenever a table they name changes: `budget_policies` (cached policies). */
  ledger_versions: { name: string; version: Generated<number> };
  /** One row per policy × window key (period key, plus `#g<n>` past generation 1): windows are keys, never reset jobs. */
  policy_windows: { policy_id: string; period_key: string; spent: Generated<number>; reserved: Generated<number> };
  reservations: {
    reservation_id: string;
    run_id: string;
    /** pending → settled | released | expired; `refused` records a refusal so a repeat returns it. */
    state: string;
    tenant_id: string;
    principal_id: string;
    model_id: string;
    input_tokens: number;
    max_output_tokens: number;
    amount_micro_usd: number;
    tokens: number;
    input_micro_usd_per_mtok: number;
    output_micro_usd_per_mtok: number;
    catalog_version: string;
    expires_at: string;
    created_at: string;
    resolved_at: string | null;
    settled_micro_usd: number | null;
    settled_tokens: number | null;
    /** The reserve outcome as JSON: a repeated reserve returns it unchanged. */
    outcome: string;
    /** The first settle/release/expire outcome as JSON: repeats return it and book nothing. */
    resolution: string | null;
  };
  /** What a reservation holds in each policy window, so settle and release touch exactly those. */
  reservation_holds: { reservation_id: string; policy_id: string; period_key: string; metric: string; amount: number };
  usage_records: {
    reservation_id: string;
    policy_id: string;
    period_key: string;
    run_id: string;
    metric: string;
    amount: number;
    created_at: string;
  };
  /** Settled above what was reserved: the explicit, explained exception to invariant I3. */
  overages: {
    reservation_id: string;
    reserved_micro_usd: number;
    settled_micro_usd: number;
    reserved_tokens: number;
    settled_tokens: number;
    /** What the settle booked beyond the hold still live for it (all of it after expiry), per metric. */
    excess_micro_usd: number;
    excess_tokens: number;
    reason: string;
    created_at: string;
  };
  /** An approval that let a reservation pass approval_required policies (the exception to I1). */
  approval_overrides: {
    reservation_id: string;
    approval_id: string;
    approved_by: string;
    note: string | null;
    policy_ids: string;
    created_at: string;
  };
  budget_alerts: {
    policy_id: string;
    period_key: string;
    threshold: string;
    committed: number;
    limit_value: number;
    created_at: string;
  };
  /**
   * Every remediation attempt of the installation, newest kept for a bounded time. A claimed slot is
   * `pending` until its outcome (`succeeded` | `failed`); `skipped` attempts did nothing.
   */
  remediation_log: {
    slot_id: string;
    incident_id: string;
    remediation_id: string;
    status: string;
    detail: string;
    by_whom: string;
    /** When the slot was claimed, or the attempt skipped. */
    at: string;
    /** When the outcome was recorded; null while pending and for skipped attempts. */
    finished_at: string | null;
  };
  /** Outcomes by remediation since the installation began (the log is pruned; these are not), for Prometheus. */
  remediation_counts: { remediation_id: string; status: string; total: number };
  /** Tenants whose new runs are refused until an SRE resumes them. */
  tenant_pauses: { tenant_id: string; reason: string; paused_by: string; paused_at: string; incident_id: string | null };
  /** Providers routing avoids until `open_until`, whatever this process's own breaker says. */
  provider_circuit_overrides: {
    provider_id: string;
    open_until: string;
    reason: string;
    opened_by: string;
    incident_id: string | null;
    opened_at: string;
  };
  /** The supervisor's last tick (one row, key `last`) and how many ticks there have been. */
  supervisor_ticks: {
    tick_key: string;
    started_at: string;
    duration_ms: number;
    findings: number;
    result_json: string;
    error: string | null;
    tick_count: number;
    recorded_at: string;
  };
  /**
   * Privileged API actions, kept for a bounded time (`auditLogRetentionMs`). `outcome` is
   * `succeeded` (a 2xx) or `refused` (with the HTTP status and error code); `detail` is short JSON
   * and never holds a secret or token.
   */
  audit_log: {
    id: string;
    at: string;
    /** The token's name, never the token. */
    actor: string;
    role: string;
    tenant_id: string | null;
    action: string;
    target: string | null;
    outcome: string;
    status: number;
    error_code: string | null;
    detail: string | null;
    request_id: string;
  };
}
