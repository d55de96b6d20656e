import { useState } from 'react';
import { endpoints } from '../../api/endpoints';
import type { BudgetPolicy, PolicyWindow } from '../../api/types';
import { Chip } from '../../components/Chip';
import { ConfirmAction } from '../../components/ConfirmAction';
import { DataView } from '../../components/DataView';
import { Freshness, PageTitle } from '../../components/Layout';
import { amount, words } from '../../format';
import { useResource } from '../../hooks/useResource';
import { useTitle } from '../../hooks/useTitle';
import { useCan } from '../../session';
import { PolicyForm } from './PolicyForm';
import { PolicyWindows } from './PolicyWindows';
import { PricingSection } from './PricingSection';

async function policiesWithWindows(): Promise<{ policies: BudgetPolicy[]; windows: PolicyWindow[] }> {
  const [policies, usage] = await Promise.all([endpoints.listPolicies(), endpoints.usage()]);
  return { policies: policies.items, windows: usage.policies };
}

function PolicyRow({
  policy,
  window,
  canEdit,
  onEdit,
  onChanged,
}: {
  policy: BudgetPolicy;
  window: PolicyWindow | undefined;
  canEdit: boolean;
  onEdit(): void;
  onChanged(): void;
}) {
  const fromConfig = policy.source === 'config';
  return (
    <article className="card policy" aria-labelledby={`policy-title-${policy.policyId}`} data-policy={policy.policyId}>
      <div className="section-head">
        <h3 id={`policy-title-${policy.policyId}`}>{policy.policyId}</h3>
        <span>
          <Chip value={policy.action} /> {policy.enabled ? null : <Chip value="skipped" label="disabled" />}
        </span>
      </div>
      <p className="sub">
        {policy.scope.kind}
        {policy.scope.id ? `:${policy.scope.id}` : ''} · {policy.metric} per {policy.window} · hard{' '}
        {amount(policy.hardLimit, policy.metric)}
        {policy.softLimit !== undefined ? ` · soft ${amount(policy.softLimit, policy.metric)}` : ''} · {words(policy.action)} ·
        from {policy.source}
        {policy.generation > 1 ? ` · generation ${policy.generation}` : ''}
      </p>
      {window ? <PolicyWindows windows={[window]} /> : <p className="notice notice-empty">No window yet.</p>}
      {canEdit ? (
        fromConfig ? (
          <p className="hint">Declared in the config file: change it there (the API answers 409 to edits).</p>
        ) : (
          <div className="actions">
            <button type="button" className="button" onClick={onEdit}>
              Edit
            </button>
            <ConfirmAction
              label="Delete"
              title={`Delete policy ${policy.policyId}?`}
              description={
                <p>New runs are no longer checked against it. Its windows stay, so holds made under it can still settle.</p>
              }
              tone="danger"
              onConfirm={() => endpoints.deletePolicy(policy.policyId).then(onChanged)}
            />
          </div>
        )
      ) : null}
    </article>
  );
}

/** Budget policies with their current windows; create, edit and delete for a token that may; price overrides. */
export function BudgetsPage() {
  useTitle('Budgets');
  const canEdit = useCan('editBudget');
  const data = useResource(policiesWithWindows, 'budgets', { intervalMs: 5_000 });
  const [editing, setEditing] = useState<BudgetPolicy | 'new' | undefined>();
  const changed = () => void data.refresh();
  return (
    <>
      <PageTitle title="Budgets">
        <Freshness updatedAt={data.updatedAt} onRefresh={changed} />
      </PageTitle>
      {canEdit ? (
        editing ? (
          <PolicyForm
            key={editing === 'new' ? 'new' : editing.policyId}
            policy={editing === 'new' ? undefined : editing}
            onDone={() => {
              setEditing(undefined);
              changed();
            }}
            onCancel={() => setEditing(undefined)}
          />
        ) : (
          <button type="button" className="button button-primary" onClick={() => setEditing('new')}>
            New policy
          </button>
        )
      ) : null}
      <section aria-labelledby="policies">
        <h2 id="policies">Policies</h2>
        <DataView resource={data} what="budget policies" isEmpty={(d) => d.policies.length === 0} empty="No budget policies.">
          {({ policies, windows }) =>
            policies.map((policy) => (
              <PolicyRow
                key={policy.policyId}
                policy={policy}
                window={windows.find((w) => w.policyId === policy.policyId)}
                canEdit={canEdit}
                onEdit={() => {
                  setEditing(policy);
                  window.scrollTo(0, 0);
                }}
                onChanged={changed}
              />
            ))
          }
        </DataView>
      </section>
      <PricingSection />
    </>
  );
}
