// Kysely is pinned to 0.28: 0.29 ships ESM only, which jest's CommonJS loader cannot require.
import { Migrator, PostgresAdapter, sql, type Kysely, type Migration, type MigrationResultSet } from 'kysely';

/**
 * Versioned migrations, in code so they ship with the build. Kysely records applied ones in
 * `kysely_migration`; `palyra dev|api|worker` run them at start-up (and `palyra doctor` will).
 */
const migrations: Record<string, Migration> = {
  '0001_ledger': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('ledger_meta')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('pricing_overrides')
        .addColumn('model_id', 'text', (c) => c.primaryKey())
        .addColumn('input_micro_usd_per_mtok', 'bigint', (c) => c.notNull())
        .addColumn('output_micro_usd_per_mtok', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('budget_policies')
        .addColumn('policy_id', 'text', (c) => c.primaryKey())
        .addColumn('scope_kind', 'text', (c) => c.notNull())
        .addColumn('scope_id', 'text')
        .addColumn('metric', 'text', (c) => c.notNull())
        .addColumn('window', 'text', (c) => c.notNull())
        .addColumn('soft_limit', 'bigint')
        .addColumn('hard_limit', 'bigint', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('policy_windows')
        .addColumn('policy_id', 'text', (c) => c.notNull())
        .addColumn('period_key', 'text', (c) => c.notNull())
        .addColumn('spent', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('reserved', 'bigint', (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('policy_windows_pk', ['policy_id', 'period_key'])
        .execute();
      await db.schema
        .createTable('reservations')
        .addColumn('reservation_id', 'text', (c) => c.primaryKey())
        .addColumn('run_id', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('principal_id', 'text', (c) => c.notNull())
        .addColumn('model_id', 'text', (c) => c.notNull())
        .addColumn('input_tokens', 'bigint', (c) => c.notNull())
        .addColumn('max_output_tokens', 'bigint', (c) => c.notNull())
        .addColumn('amount_micro_usd', 'bigint', (c) => c.notNull())
        .addColumn('tokens', 'bigint', (c) => c.notNull())
        .addColumn('input_micro_usd_per_mtok', 'bigint', (c) => c.notNull())
        .addColumn('output_micro_usd_per_mtok', 'bigint', (c) => c.notNull())
        .addColumn('catalog_version', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('resolved_at', 'text')
        .addColumn('settled_micro_usd', 'bigint')
        .addColumn('settled_tokens', 'bigint')
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('resolution', 'text')
        .execute();
      await db.schema.createIndex('reservations_pending_expiry').on('reservations').columns(['state', 'expires_at']).execute();
      await db.schema.createIndex('reservations_run').on('reservations').column('run_id').execute();
      await db.schema
        .createTable('reservation_holds')
        .addColumn('reservation_id', 'text', (c) => c.notNull())
        .addColumn('policy_id', 'text', (c) => c.notNull())
        .addColumn('period_key', 'text', (c) => c.notNull())
        .addColumn('metric', 'text', (c) => c.notNull())
        .addColumn('amount', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('reservation_holds_pk', ['reservation_id', 'policy_id'])
        .execute();
      await db.schema
        .createTable('usage_records')
        .addColumn('reservation_id', 'text', (c) => c.notNull())
        .addColumn('policy_id', 'text', (c) => c.notNull())
        .addColumn('period_key', 'text', (c) => c.notNull())
        .addColumn('run_id', 'text', (c) => c.notNull())
        .addColumn('metric', 'text', (c) => c.notNull())
        .addColumn('amount', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('usage_records_pk', ['reservation_id', 'policy_id'])
        .execute();
      await db.schema.createIndex('usage_records_window').on('usage_records').columns(['policy_id', 'period_key']).execute();
      await db.schema
        .createTable('overages')
        .addColumn('reservation_id', 'text', (c) => c.primaryKey())
        .addColumn('reserved_micro_usd', 'bigint', (c) => c.notNull())
        .addColumn('settled_micro_usd', 'bigint', (c) => c.notNull())
        .addColumn('reserved_tokens', 'bigint', (c) => c.notNull())
        .addColumn('settled_tokens', 'bigint', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('approval_overrides')
        .addColumn('reservation_id', 'text', (c) => c.primaryKey())
        .addColumn('approval_id', 'text', (c) => c.notNull())
        .addColumn('approved_by', 'text', (c) => c.notNull())
        .addColumn('note', 'text')
        .addColumn('policy_ids', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('budget_alerts')
        .addColumn('policy_id', 'text', (c) => c.notNull())
        .addColumn('period_key', 'text', (c) => c.notNull())
        .addColumn('threshold', 'text', (c) => c.notNull())
        .addColumn('committed', 'bigint', (c) => c.notNull())
        .addColumn('limit_value', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('budget_alerts_pk', ['policy_id', 'period_key', 'threshold'])
        .execute();
      await sql`insert into ledger_meta (key, value) values ('pricing_revision', '0')`.execute(db);
    },
  },
  '0002_routing_decisions': {
    async up(db) {
      await db.schema
        .createTable('routing_decisions')
        .addColumn('decision_id', 'text', (c) => c.primaryKey())
        .addColumn('run_id', 'text')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('principal_id', 'text', (c) => c.notNull())
        .addColumn('task_class', 'text', (c) => c.notNull())
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('requested_model', 'text')
        .addColumn('selected_model', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('reason_codes', 'text', (c) => c.notNull())
        .addColumn('decision', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('routing_decisions_tenant')
        .on('routing_decisions')
        .columns(['tenant_id', 'created_at'])
        .execute();
    },
  },
  '0003_provider_attempts': {
    async up(db) {
      await db.schema
        .createTable('provider_attempts')
        .addColumn('run_id', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('input_tokens', 'bigint', (c) => c.notNull())
        .addColumn('output_tokens', 'bigint', (c) => c.notNull())
        .addColumn('failure', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('provider_attempts_pk', ['run_id', 'attempt'])
        .execute();
    },
  },
  '0004_overage_excess': {
    async up(db) {
      // I1 is checked exactly: a window may pass its limit by what recorded overages booked beyond
      // their live holds, no more (before, any overage excused the whole window).
      await db.schema
        .alterTable('overages')
        .addColumn('excess_micro_usd', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('overages')
        .addColumn('excess_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
      await sql`update overages set
        excess_micro_usd = case when settled_micro_usd > reserved_micro_usd then settled_micro_usd - reserved_micro_usd else 0 end,
        excess_tokens = case when settled_tokens > reserved_tokens then settled_tokens - reserved_tokens else 0 end`.execute(db);
    },
  },
  '0005_policy_generation': {
    async up(db) {
      // Changing a policy's metric, window or scope starts a fresh generation of its windows
      // (window keys `2026-11-27#g2`, …); existing policies and their windows are generation 1,
      // whose keys are the plain period keys they already have.
      await db.schema
        .alterTable('budget_policies')
        .addColumn('generation', 'integer', (c) => c.notNull().defaultTo(1))
        .execute();
    },
  },
  '0006_self_healing': {
    async up(db) {
      // Self-healing state shared by every process of the installation: the throttle and circuit
      // breaker in front of remediations, tenant pauses, provider circuits opened by an incident
      // and the supervisor's last tick.
      await db.schema
        .createTable('remediation_log')
        .addColumn('slot_id', 'text', (c) => c.primaryKey())
        .addColumn('incident_id', 'text', (c) => c.notNull())
        .addColumn('remediation_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .addColumn('by_whom', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text')
        .execute();
      await db.schema.createIndex('remediation_log_at').on('remediation_log').column('at').execute();
      await db.schema.createIndex('remediation_log_finished').on('remediation_log').column('finished_at').execute();
      await db.schema
        .createTable('remediation_counts')
        .addColumn('remediation_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('total', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('remediation_counts_pk', ['remediation_id', 'status'])
        .execute();
      await db.schema
        .createTable('tenant_pauses')
        .addColumn('tenant_id', 'text', (c) => c.primaryKey())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('paused_by', 'text', (c) => c.notNull())
        .addColumn('paused_at', 'text', (c) => c.notNull())
        .addColumn('incident_id', 'text')
        .execute();
      await db.schema
        .createTable('provider_circuit_overrides')
        .addColumn('provider_id', 'text', (c) => c.primaryKey())
        .addColumn('open_until', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('opened_by', 'text', (c) => c.notNull())
        .addColumn('incident_id', 'text')
        .addColumn('opened_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('supervisor_ticks')
        .addColumn('tick_key', 'text', (c) => c.primaryKey())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('duration_ms', 'bigint', (c) => c.notNull())
        .addColumn('findings', 'integer', (c) => c.notNull())
        .addColumn('result_json', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('tick_count', 'bigint', (c) => c.notNull())
        .addColumn('recorded_at', 'text', (c) => c.notNull())
        .execute();
      // Settled spend by time, for the spend_spike detector's per-tenant rates.
      await db.schema.createIndex('reservations_resolved').on('reservations').columns(['state', 'resolved_at']).execute();
      // The row every remediation claim locks on PostgreSQL, so concurrent claims decide one at a time.
      await sql`insert into ledger_meta (key, value) values ('remediation_gate', '0')`.execute(db);
    },
    // Undone by `palyra doctor --rollback-run` after a repair that applied it; drops its state.
    async down(db) {
      await sql`delete from ledger_meta where key = 'remediation_gate'`.execute(db);
      await db.schema.dropIndex('reservations_resolved').execute();
      for (const table of [
        'supervisor_ticks',
        'provider_circuit_overrides',
        'tenant_pauses',
        'remediation_counts',
        'remediation_log',
      ]) {
        await db.schema.dropTable(table).execute();
      }
    },
  },
  '0007_audit_log': {
    async up(db) {
      // Privileged API actions: who did what to which target, when, and whether it was refused.
      await db.schema
        .createTable('audit_log')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text')
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('error_code', 'text')
        .addColumn('detail', 'text')
        .addColumn('request_id', 'text', (c) => c.notNull())
        .execute();
      // Newest-first pages (keyset on at, id), retention deletes by at, and "what did this token do".
      await db.schema.createIndex('audit_log_at').on('audit_log').columns(['at', 'id']).execute();
      await db.schema.createIndex('audit_log_actor').on('audit_log').columns(['actor', 'at']).execute();
    },
    async down(db) {
      await db.schema.dropTable('audit_log').execute();
    },
  },
  '0008_single_statement_reservations': {
    async up(db) {
      // PostgreSQL only: the common reserve and settle as one round trip each (see
      // src/ledger/repository/single-statement.ts). A function runs its statements in the order
      // written, so window rows are still locked in the caller's order (byte order of policy id,
      // period key), and as one statement it commits or rolls back whole. SQLite runs in-process
      // and needs none.
      if (!isPostgres(db)) return;
      for (const definition of Object.values(singleStatementFunctionsOf0008)) await definition.execute(db);
    },
    async down(db) {
      if (!isPostgres(db)) return;
      await sql`drop function palyra_reserve_in_full(jsonb)`.execute(db);
      await sql`drop function palyra_settle_within_hold(jsonb)`.execute(db);
      await sql`drop function palyra_record_crossings(jsonb, bigint, bigint, text)`.execute(db);
    },
  },
  '0009_cheaper_single_statements': {
    async up(db) {
      // The same functions doing the same writes in the same order for less server time per call,
      // and the settle's read as a function too (see singleStatementFunctionsOf0009).
      if (!isPostgres(db)) return;
      for (const definition of Object.values(singleStatementFunctionsOf0009)) await definition.execute(db);
    },
    async down(db) {
      if (!isPostgres(db)) return;
      await sql`drop function palyra_read_for_settle(text)`.execute(db);
      // `create or replace` also drops the settings 0009 attached (plan_cache_mode).
      for (const definition of Object.values(singleStatementFunctionsOf0008)) await definition.execute(db);
    },
  },
  '0010_policy_versions': {
    async up(db) {
      // A counter that every change to budget_policies bumps, by trigger, whoever makes it (the
      // API, the config sync, the doctor, a hand-written statement), in the change's own
      // transaction. A process keeps the policies it read for its reserves and reads them again
      // only when the counter moved (windows.ts, sqlite-transactions.ts).
      await db.schema
        .createTable('ledger_versions')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('version', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
      // Started from the clock, not 0: after this migration is undone and applied again, a process
      // still holding policies read under the old counter must not find its number again.
      await sql`insert into ledger_versions (name, version) values ('budget_policies', ${Date.now()})`.execute(db);
      if (isPostgres(db)) {
        await sql`
          create function palyra_bump_policies_version() returns trigger language plpgsql as $fn$
          begin
            update ledger_versions set version = version + 1 where name = 'budget_policies';
            return null;
          end
          $fn$`.execute(db);
        await sql`
          create trigger budget_policies_version after insert or update or delete or truncate on budget_policies
          for each statement execute function palyra_bump_policies_version()`.execute(db);
        // The single-statement reserve with the policies the caller kept: 'stale', with nothing
        // written, when they changed since it read them (it reads them again and calls again).
        await sql`
          create function palyra_reserve_with_policies(request jsonb) returns jsonb
            language plpgsql set plan_cache_mode = force_generic_plan as $fn$
          begin
            if (request->>'policies_version')::bigint is distinct from
                (select v.version from ledger_versions v where v.name = 'budget_policies') then
              return jsonb_build_object('status', 'stale');
            end if;
            return palyra_reserve_in_full(request);
          end
          $fn$`.execute(db);
        return;
      }
      for (const event of ['insert', 'update', 'delete']) {
        await sql
          .raw(
            `create trigger budget_policies_version_${event} after ${event} on budget_policies
             begin update ledger_versions set version = version + 1 where name = 'budget_policies'; end`,
          )
          .execute(db);
      }
    },
    async down(db) {
      if (isPostgres(db)) {
        await sql`drop function palyra_reserve_with_policies(jsonb)`.execute(db);
        await sql`drop trigger budget_policies_version on budget_policies`.execute(db);
        await sql`drop function palyra_bump_policies_version()`.execute(db);
      } else {
        for (const event of ['insert', 'update', 'delete']) {
          await sql.raw(`drop trigger budget_policies_version_${event}`).execute(db);
        }
      }
      await db.schema.dropTable('ledger_versions').execute();
    },
  },
};

/**
 * PostgreSQL's single-statement reserve and settle as migration 0008 created them, kept whole so
 * that 0009's down puts back exactly these. The bodies keep 0008's text to the byte (indentation
 * too), so a function put back stores the same source as one 0008 created.
 */
const singleStatementFunctionsOf0008 = {
  // Alerts for the thresholds a window crossed: each threshold comes with the least committed
  // amount that reaches it, computed by the caller from the domain's own rule.
  recordCrossings: sql`
        create or replace function palyra_record_crossings(win jsonb, before bigint, after bigint, at text) returns void language sql as $fn$
          insert into budget_alerts (policy_id, period_key, threshold, committed, limit_value, created_at)
          select win->>'policy_id', win->>'period_key', threshold, after, (win->>'hard_limit')::bigint, at
          from jsonb_to_recordset(coalesce(win->'alerts', '[]'::jsonb)) as a(threshold text, reached_from bigint)
          where before < reached_from and reached_from <= after
          on conflict (policy_id, period_key, threshold) do nothing
        $fn$`,
  reserveInFull: sql`
        create or replace function palyra_reserve_in_full(request jsonb) returns jsonb language plpgsql as $fn$
        declare
          stored text;
          win jsonb;
          usage jsonb := '[]'::jsonb;
          fits boolean := true;
          found_spent bigint;
          found_reserved bigint;
        begin
          select outcome into stored from reservations where reservation_id = request->'reservation'->>'reservation_id';
          if found then
            return jsonb_build_object('status', 'exists', 'outcome', stored);
          end if;
          -- Unlocked look first: a window without room writes (and locks) nothing, and the caller
          -- decides from what it saw.
          for win in select value from jsonb_array_elements(request->'windows') with ordinality order by ordinality loop
            select spent, reserved into found_spent, found_reserved from policy_windows
              where policy_id = win->>'policy_id' and period_key = win->>'period_key';
            usage := usage || jsonb_build_array(jsonb_build_object('spent', coalesce(found_spent, 0), 'reserved', coalesce(found_reserved, 0)));
            if found_spent is null or found_spent + found_reserved > (win->>'hard_limit')::bigint - (win->>'amount')::bigint then
              fits := false;
            end if;
          end loop;
          if not fits then
            return jsonb_build_object('status', 'no_room', 'usage', usage);
          end if;
          insert into reservations select * from jsonb_populate_record(null::reservations, request->'reservation');
          insert into reservation_holds select * from jsonb_populate_recordset(null::reservation_holds, request->'holds');
          for win in select value from jsonb_array_elements(request->'windows') with ordinality order by ordinality loop
            update policy_windows set reserved = reserved + (win->>'amount')::bigint
              where policy_id = win->>'policy_id' and period_key = win->>'period_key'
                and spent + reserved <= (win->>'hard_limit')::bigint - (win->>'amount')::bigint
              returning spent, reserved into found_spent, found_reserved;
            if not found then
              -- Another reservation took the room since the look above: undo all of this one.
              raise exception 'window % % has no room left', win->>'policy_id', win->>'period_key' using errcode = 'PL001';
            end if;
            perform palyra_record_crossings(win, found_spent + found_reserved - (win->>'amount')::bigint,
              found_spent + found_reserved, request->>'now');
          end loop;
          return jsonb_build_object('status', 'admitted');
        end
        $fn$`,
  settleWithinHold: sql`
        create or replace function palyra_settle_within_hold(request jsonb) returns boolean language plpgsql as $fn$
        declare
          claimed text;
          hold record;
          actual bigint;
          booked_spent bigint;
          booked_reserved bigint;
        begin
          update reservations
            set state = 'settled', resolved_at = request->>'now', settled_micro_usd = (request->>'cost')::bigint,
              settled_tokens = (request->>'tokens')::bigint, resolution = request->>'resolution'
            where reservation_id = request->>'reservation_id' and state = 'pending' and expires_at > request->>'now'
              and amount_micro_usd >= (request->>'cost')::bigint and tokens >= (request->>'tokens')::bigint
            returning run_id into claimed;
          if not found then
            return false;
          end if;
          for hold in select * from reservation_holds where reservation_id = request->>'reservation_id'
              order by policy_id collate "C", period_key collate "C" loop
            actual := case when hold.metric = 'cost' then (request->>'cost')::bigint else (request->>'tokens')::bigint end;
            insert into usage_records (reservation_id, policy_id, period_key, run_id, metric, amount, created_at)
              values (hold.reservation_id, hold.policy_id, hold.period_key, claimed, hold.metric, actual, request->>'now');
            update policy_windows set reserved = reserved - hold.amount, spent = spent + actual
              where policy_id = hold.policy_id and period_key = hold.period_key
              returning spent, reserved into booked_spent, booked_reserved;
            perform palyra_record_crossings(request->'windows'->hold.policy_id, booked_spent + booked_reserved - actual + hold.amount,
              booked_spent + booked_reserved, request->>'now');
          end loop;
          return true;
        end
        $fn$`,
};

/**
 * Migration 0009's versions: the same statements in the same order (windows locked and booked in
 * the caller's order, the conditional booking, PL001 when the room went, the compare-and-set
 * claim), for less server time per call, as measured on PostgreSQL 15:
 * - palyra_record_crossings is plpgsql: as a LANGUAGE sql function it was parsed and planned on
 *   every call (PG 15 caches no plans for those), about a third of a settle. It now looks at the
 *   thresholds in plpgsql and runs its INSERT only for one that was crossed, which is rare.
 * - Request fields are read once into variables, and windows are walked by index (expressions
 *   plpgsql evaluates without a query) instead of a query over jsonb_array_elements.
 * - `plan_cache_mode = force_generic_plan`: every statement here looks rows up by key, where the
 *   generic plan is the plan; without it each new session plans every statement afresh for its
 *   first five calls, which a pool whose connections come and go pays again and again.
 * - palyra_read_for_settle is the settle's read (readForSettle), unchanged but for its plan being
 *   cached: as a top-level statement its three-table join was planned on each call, a third of its
 *   server time.
 */
const singleStatementFunctionsOf0009 = {
  recordCrossings: sql`
  create or replace function palyra_record_crossings(win jsonb, before bigint, after bigint, at text) returns void
    language plpgsql set plan_cache_mode = force_generic_plan as $fn$
  declare
    alerts jsonb := win->'alerts';
    reached_from bigint;
  begin
    for i in 0 .. coalesce(jsonb_array_length(alerts), 0) - 1 loop
      reached_from := (alerts->i->>'reached_from')::bigint;
      if before < reached_from and reached_from <= after then
        insert into budget_alerts (policy_id, period_key, threshold, committed, limit_value, created_at)
          values (win->>'policy_id', win->>'period_key', alerts->i->>'threshold', after, (win->>'hard_limit')::bigint, at)
          on conflict (policy_id, period_key, threshold) do nothing;
      end if;
    end loop;
  end
  $fn$`,
  reserveInFull: sql`
  create or replace function palyra_reserve_in_full(request jsonb) returns jsonb
    language plpgsql set plan_cache_mode = force_generic_plan as $fn$
  declare
    reservation jsonb := request->'reservation';
    windows jsonb := request->'windows';
    window_count integer := coalesce(jsonb_array_length(request->'windows'), 0);
    booked_at text := request->>'now';
    stored text;
    win jsonb;
    booked_amount bigint;
    usage jsonb := '[]'::jsonb;
    fits boolean := true;
    found_spent bigint;
    found_reserved bigint;
  begin
    select r.outcome into stored from reservations r where r.reservation_id = reservation->>'reservation_id';
    if found then
      return jsonb_build_object('status', 'exists', 'outcome', stored);
    end if;
    -- Unlocked look first: a window without room writes (and locks) nothing, and the caller
    -- decides from what it saw.
    for i in 0 .. window_count - 1 loop
      win := windows->i;
      select w.spent, w.reserved into found_spent, found_reserved from policy_windows w
        where w.policy_id = win->>'policy_id' and w.period_key = win->>'period_key';
      usage := usage || jsonb_build_array(jsonb_build_object('spent', coalesce(found_spent, 0), 'reserved', coalesce(found_reserved, 0)));
      if found_spent is null or found_spent + found_reserved > (win->>'hard_limit')::bigint - (win->>'amount')::bigint then
        fits := false;
      end if;
    end loop;
    if not fits then
      return jsonb_build_object('status', 'no_room', 'usage', usage);
    end if;
    insert into reservations select * from jsonb_populate_record(null::reservations, reservation);
    insert into reservation_holds select * from jsonb_populate_recordset(null::reservation_holds, request->'holds');
    for i in 0 .. window_count - 1 loop
      win := windows->i;
      booked_amount := (win->>'amount')::bigint;
      update policy_windows w set reserved = w.reserved + booked_amount
        where w.policy_id = win->>'policy_id' and w.period_key = win->>'period_key'
          and w.spent + w.reserved <= (win->>'hard_limit')::bigint - booked_amount
        returning w.spent, w.reserved into found_spent, found_reserved;
      if not found then
        -- Another reservation took the room since the look above: undo all of this one.
        raise exception 'window % % has no room left', win->>'policy_id', win->>'period_key' using errcode = 'PL001';
      end if;
      perform palyra_record_crossings(win, found_spent + found_reserved - booked_amount, found_spent + found_reserved, booked_at);
    end loop;
    return jsonb_build_object('status', 'admitted');
  end
  $fn$`,
  settleWithinHold: sql`
  create or replace function palyra_settle_within_hold(request jsonb) returns boolean
    language plpgsql set plan_cache_mode = force_generic_plan as $fn$
  declare
    reservation_key text := request->>'reservation_id';
    settled_at text := request->>'now';
    usage_cost bigint := (request->>'cost')::bigint;
    usage_tokens bigint := (request->>'tokens')::bigint;
    windows jsonb := request->'windows';
    claimed text;
    hold record;
    actual bigint;
    booked_spent bigint;
    booked_reserved bigint;
  begin
    update reservations r
      set state = 'settled', resolved_at = settled_at, settled_micro_usd = usage_cost, settled_tokens = usage_tokens,
        resolution = request->>'resolution'
      where r.reservation_id = reservation_key and r.state = 'pending' and r.expires_at > settled_at
        and r.amount_micro_usd >= usage_cost and r.tokens >= usage_tokens
      returning r.run_id into claimed;
    if not found then
      return false;
    end if;
    for hold in select h.policy_id, h.period_key, h.metric, h.amount from reservation_holds h
        where h.reservation_id = reservation_key order by h.policy_id collate "C", h.period_key collate "C" loop
      actual := case when hold.metric = 'cost' then usage_cost else usage_tokens end;
      insert into usage_records (reservation_id, policy_id, period_key, run_id, metric, amount, created_at)
        values (reservation_key, hold.policy_id, hold.period_key, claimed, hold.metric, actual, settled_at);
      update policy_windows w set reserved = w.reserved - hold.amount, spent = w.spent + actual
        where w.policy_id = hold.policy_id and w.period_key = hold.period_key
        returning w.spent, w.reserved into booked_spent, booked_reserved;
      perform palyra_record_crossings(windows->hold.policy_id, booked_spent + booked_reserved - actual + hold.amount,
        booked_spent + booked_reserved, settled_at);
    end loop;
    return true;
  end
  $fn$`,
  readForSettle: sql`
  create or replace function palyra_read_for_settle(reservation_key text)
    returns table (state text, expires_at text, amount_micro_usd bigint, tokens bigint, input_micro_usd_per_mtok bigint,
      output_micro_usd_per_mtok bigint, policy_id text, period_key text, policy jsonb)
    language plpgsql stable set plan_cache_mode = force_generic_plan as $fn$
  begin
    return query select r.state, r.expires_at, r.amount_micro_usd, r.tokens, r.input_micro_usd_per_mtok,
        r.output_micro_usd_per_mtok, h.policy_id, h.period_key, to_jsonb(p)
      from reservations r
      left join reservation_holds h on h.reservation_id = r.reservation_id
      left join budget_policies p on p.policy_id = h.policy_id
      where r.reservation_id = reservation_key;
  end
  $fn$`,
};

/** Migrations see only the connection; its adapter says which database it is. */
function isPostgres(db: Kysely<unknown>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

export async function migrateLedger(db: Kysely<unknown>, dialect: 'sqlite' | 'postgres'): Promise<MigrationResultSet> {
  const result = await (await migratorFor(db, dialect)).migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`ledger migration ${failed} failed: ${(result.error as Error).message}`);
  }
  return result;
}

export const ledgerMigrationNames = Object.keys(migrations);

async function migratorFor(db: Kysely<unknown>, dialect: 'sqlite' | 'postgres'): Promise<Migrator> {
  // Kysely looks for its bookkeeping tables across every schema unless told which one; with
  // several Palyra schemas in one database (tests, staging) it must be the connection's own.
  const migrationTableSchema =
    dialect === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema
      : undefined;
  return new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    ...(migrationTableSchema ? { migrationTableSchema } : {}),
  });
}

/** The migrations applied to this ledger, in order (none when it was never migrated). */
export async function appliedLedgerMigrations(db: Kysely<unknown>, dialect: 'sqlite' | 'postgres'): Promise<string[]> {
  const migrations = await (await migratorFor(db, dialect)).getMigrations();
  return migrations.filter((migration) => migration.executedAt !== undefined).map((migration) => migration.name);
}

/** Whether a migration can be undone (it has a `down`). */
export function isReversibleMigration(name: string): boolean {
  return migrations[name]?.down !== undefined;
}

/**
 * One migration's own up and down, to run without the bookkeeping: tests check that a down puts
 * back what came before it even when later migrations are applied (undoing those on PostgreSQL
 * would drop tables under other test files' catalog reads).
 */
export function ledgerMigration(name: string): Migration {
  const migration = migrations[name];
  if (!migration) throw new Error(`no ledger migration ${name}`);
  return migration;
}

/** Undoes the last applied migration (it must have a `down`); answers its name. */
export async function migrateLedgerDown(db: Kysely<unknown>, dialect: 'sqlite' | 'postgres'): Promise<string> {
  const result = await (await migratorFor(db, dialect)).migrateDown();
  const undone = result.results?.[0];
  if (result.error || !undone || undone.status !== 'Success') {
    throw new Error(
      `undoing ledger migration ${undone?.migrationName ?? '(none)'} failed: ${(result.error as Error | undefined)?.message ?? 'nothing to undo'}`,
    );
  }
  return undone.migrationName;
}
