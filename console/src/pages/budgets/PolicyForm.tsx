import { useState } from 'react';
import { ApiError } from '../../api/client';
import { endpoints } from '../../api/endpoints';
import {
  budgetActions,
  budgetMetrics,
  budgetWindows,
  scopeKinds,
  type BudgetPolicy,
  type BudgetPolicyBody,
} from '../../api/types';
import { asWritten, ChoiceField } from '../../components/ChoiceField';

/** Cost limits are typed in dollars and stored in micro-USD; token limits are tokens. */
const toInput = (value: number | undefined, metric: string) =>
  value === undefined ? '' : metric === 'cost' ? String(value / 1e6) : String(value);
const fromInput = (text: string, metric: string) => {
  if (text.trim() === '') return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) return Number.NaN;
  return metric === 'cost' ? Math.round(value * 1e6) : Math.round(value);
};

export function PolicyForm({ policy, onDone, onCancel }: { policy: BudgetPolicy | undefined; onDone(): void; onCancel(): void }) {
  const [form, setForm] = useState({
    policyId: policy?.policyId ?? '',
    scopeKind: policy?.scope.kind ?? 'tenant',
    scopeId: policy?.scope.id ?? '',
    metric: policy?.metric ?? 'cost',
    window: policy?.window ?? 'day',
    hardLimit: toInput(policy?.hardLimit, policy?.metric ?? 'cost'),
    softLimit: toInput(policy?.softLimit, policy?.metric ?? 'cost'),
    action: policy?.action ?? 'block',
    enabled: policy?.enabled ?? true,
  });
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const set = (key: keyof typeof form) => (event: { target: { value: string } }) =>
    setForm({ ...form, [key]: event.target.value });
  const unit = form.metric === 'cost' ? 'USD' : 'tokens';

  const submit = async () => {
    const hardLimit = fromInput(form.hardLimit, form.metric);
    const softLimit = fromInput(form.softLimit, form.metric);
    if (hardLimit === undefined || Number.isNaN(hardLimit) || Number.isNaN(softLimit ?? 0)) {
      setError('Limits must be numbers.');
      return;
    }
    const body: BudgetPolicyBody = {
      scope: { kind: form.scopeKind, ...(form.scopeKind !== 'global' && form.scopeId.trim() ? { id: form.scopeId.trim() } : {}) },
      metric: form.metric,
      window: form.window,
      hardLimit,
      ...(softLimit !== undefined ? { softLimit } : {}),
      action: form.action,
      enabled: form.enabled,
    };
    setBusy(true);
    setError(undefined);
    try {
      await endpoints.putPolicy(form.policyId.trim(), body);
      onDone();
    } catch (caught) {
      setError(caught instanceof ApiError ? `${caught.code}: ${caught.message}` : String(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="card"
      aria-label={policy ? `Edit policy ${policy.policyId}` : 'New policy'}
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      <h2>{policy ? `Edit policy ${policy.policyId}` : 'New policy'}</h2>
      {policy ? (
        <p className="hint">Changing the metric, window or scope starts fresh windows; limits, action and enabled keep them.</p>
      ) : null}
      <div className="form-grid">
        <label className="field">
          Policy id
          <input name="policyId" required readOnly={policy !== undefined} value={form.policyId} onChange={set('policyId')} />
        </label>
        <ChoiceField
          label="Scope"
          name="scopeKind"
          value={form.scopeKind}
          choices={scopeKinds}
          onChange={set('scopeKind')}
          show={asWritten}
        />
        <label className="field">
          Scope id (tenant, tenant/principal or model)
          <input name="scopeId" value={form.scopeId} disabled={form.scopeKind === 'global'} onChange={set('scopeId')} />
        </label>
        <ChoiceField
          label="Metric"
          name="metric"
          value={form.metric}
          choices={budgetMetrics}
          onChange={set('metric')}
          show={asWritten}
        />
        <ChoiceField
          label="Window"
          name="window"
          value={form.window}
          choices={budgetWindows}
          onChange={set('window')}
          show={asWritten}
        />
        <label className="field">
          Hard limit ({unit})
          <input name="hardLimit" required inputMode="decimal" value={form.hardLimit} onChange={set('hardLimit')} />
        </label>
        <label className="field">
          Soft limit ({unit}, optional)
          <input name="softLimit" inputMode="decimal" value={form.softLimit} onChange={set('softLimit')} />
        </label>
        <ChoiceField
          label="Action at the hard limit"
          name="action"
          value={form.action}
          choices={budgetActions}
          onChange={set('action')}
        />
        <label className="field checkbox">
          <input
            type="checkbox"
            name="enabled"
            checked={form.enabled}
            onChange={(e) => setForm({ ...form, enabled: e.target.checked })}
          />
          Enabled
        </label>
      </div>
      {error ? (
        <p className="notice notice-error" role="alert">
          {error}
        </p>
      ) : null}
      <div className="actions">
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? 'Saving…' : 'Save policy'}
        </button>
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
