import { amount, percent } from '../format';

/**
 * Spent and reserved against a window's hard limit, with the soft limit marked. The scale runs to the
 * hard limit, or past it when more than the limit was committed (an approval override), so the bar
 * always shows where the marks are.
 */
export function UtilizationBar({
  spent,
  reserved,
  limit,
  softLimit,
  metric,
  label,
}: {
  spent: number;
  reserved: number;
  limit: number;
  softLimit?: number | undefined;
  metric: string;
  label: string;
}) {
  const committed = spent + reserved;
  const scale = Math.max(limit, committed, 1);
  const at = (value: number) => `${Math.min(100, (value / scale) * 100)}%`;
  const utilization = limit > 0 ? committed / limit : committed > 0 ? 1 : 0;
  const summary =
    `${label}: ${amount(spent, metric)} spent, ${amount(reserved, metric)} reserved of ${amount(limit, metric)} ` +
    `(${percent(utilization)})${softLimit !== undefined ? `, soft limit ${amount(softLimit, metric)}` : ''}`;
  return (
    <div className="bar" role="img" aria-label={summary} title={summary} data-utilization={String(utilization)}>
      <div className="bar-spent" style={{ width: at(spent) }} />
      <div className="bar-reserved" style={{ left: at(spent), width: at(reserved) }} />
      {softLimit !== undefined ? <div className="bar-mark bar-soft" style={{ left: at(softLimit) }} /> : null}
      <div className="bar-mark bar-hard" style={{ left: at(limit) }} />
    </div>
  );
}
