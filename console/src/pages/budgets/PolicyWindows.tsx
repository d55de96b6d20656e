import type { PolicyWindow } from '../../api/types';
import { Chip } from '../../components/Chip';
import { UtilizationBar } from '../../components/UtilizationBar';
import { amount, dateTime, percent } from '../../format';

const thresholdNames = { pct80: '80 %', pct95: '95 %', soft: 'soft limit', hard: 'hard limit' } as const;

/** Each policy's current window as a bar (spent, reserved, soft and hard marks) with its alerts. */
export function PolicyWindows({ windows }: { windows: PolicyWindow[] }) {
  return (
    <ul className="windows">
      {windows.map((window) => (
        <li key={window.policyId} id={`policy-${window.policyId}`} data-policy-id={window.policyId} className="window">
          <div className="window-head">
            <strong>{window.policyId}</strong>
            <span className="sub">
              {window.scope.kind}
              {window.scope.id ? `:${window.scope.id}` : ''} · {window.metric} · {window.window} {window.periodKey}
              {window.enabled ? '' : ' · disabled'}
            </span>
            <Chip value={window.status} />
          </div>
          <UtilizationBar
            spent={window.spent}
            reserved={window.reserved}
            limit={window.limit}
            softLimit={window.softLimit}
            metric={window.metric}
            label={window.policyId}
          />
          <div className="window-figures" data-testid="window-figures">
            {amount(window.spent, window.metric)} spent + {amount(window.reserved, window.metric)} reserved of{' '}
            {amount(window.limit, window.metric)} · <span className="utilization">{percent(window.utilization)}</span>
            {window.softLimit !== undefined ? ` · soft ${amount(window.softLimit, window.metric)}` : ''}
          </div>
          {window.alerts.length ? (
            <ul className="alerts" aria-label={`Alerts of ${window.policyId}`}>
              {window.alerts.map((alert) => (
                <li key={`${alert.threshold}-${alert.createdAt}`}>
                  Crossed {thresholdNames[alert.threshold]} at {dateTime(alert.createdAt)} (
                  {amount(alert.committed, window.metric)} of {amount(alert.limit, window.metric)})
                </li>
              ))}
            </ul>
          ) : null}
        </li>
      ))}
    </ul>
  );
}
