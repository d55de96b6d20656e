import type { SpendReport } from '../api/types';
import { usd } from '../format';

const palette = ['#2563eb', '#d97706', '#059669', '#7c3aed', '#db2777', '#0891b2', '#65a30d', '#6b7280'];
const maxSeries = 7;

/** The biggest series on their own, the rest summed as "other", so the legend stays readable. */
function topSeries(report: SpendReport) {
  const sorted = [...report.series].sort((a, b) => b.totalMicroUsd - a.totalMicroUsd);
  if (sorted.length <= maxSeries + 1) return sorted;
  const rest = sorted.slice(maxSeries);
  const other = {
    key: `other (${rest.length})`,
    totalMicroUsd: rest.reduce((sum, s) => sum + s.totalMicroUsd, 0),
    points: (rest[0]?.points ?? []).map((point, i) => ({
      start: point.start,
      costMicroUsd: rest.reduce((sum, s) => sum + (s.points[i]?.costMicroUsd ?? 0), 0),
      tokens: rest.reduce((sum, s) => sum + (s.points[i]?.tokens ?? 0), 0),
    })),
  };
  return [...sorted.slice(0, maxSeries), other];
}

function bucketLabel(start: string, bucket: 'hour' | 'day'): string {
  return bucket === 'hour' ? `${start.slice(11, 13)}h` : start.slice(5, 10);
}

/** Stacked bars of spend per bucket (an SVG of our own), with the same figures as a table for screen readers. */
export function SpendChart({ report, title }: { report: SpendReport; title: string }) {
  const series = topSeries(report);
  const buckets = series[0]?.points.map((p) => p.start) ?? [];
  const totals = buckets.map((_, i) => series.reduce((sum, s) => sum + (s.points[i]?.costMicroUsd ?? 0), 0));
  const max = Math.max(1, ...totals);
  const width = 720;
  const height = 200;
  const left = 64;
  const bottom = 24;
  const plotWidth = width - left - 8;
  const plotHeight = height - bottom - 8;
  const step = buckets.length ? plotWidth / buckets.length : plotWidth;
  const labelEvery = Math.max(1, Math.ceil(buckets.length / 10));
  const total = totals.reduce((a, b) => a + b, 0);

  return (
    <figure className="chart">
      <figcaption>
        {title}: {usd(total)} in all
      </figcaption>
      <svg
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label={`${title}, stacked by ${report.groupBy}; total ${usd(total)}`}
      >
        <line x1={left} x2={width - 8} y1={8 + plotHeight} y2={8 + plotHeight} className="axis" />
        <text x={left - 6} y={14} className="tick" textAnchor="end">
          {usd(max)}
        </text>
        <text x={left - 6} y={8 + plotHeight} className="tick" textAnchor="end">
          $0
        </text>
        {buckets.map((start, i) => {
          let y = 8 + plotHeight;
          return (
            <g key={start}>
              {series.map((s, k) => {
                const value = s.points[i]?.costMicroUsd ?? 0;
                const h = (value / max) * plotHeight;
                y -= h;
                return value > 0 ? (
                  <rect
                    key={s.key}
                    x={left + i * step + 1}
                    y={y}
                    width={Math.max(1, step - 2)}
                    height={h}
                    fill={palette[k % palette.length]}
                  >
                    <title>{`${start} · ${s.key}: ${usd(value)}`}</title>
                  </rect>
                ) : null;
              })}
              {i % labelEvery === 0 ? (
                <text x={left + i * step + step / 2} y={height - 6} className="tick" textAnchor="middle">
                  {bucketLabel(start, report.bucket)}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <ul className="legend">
        {series.map((s, k) => (
          <li key={s.key}>
            <span className="swatch" style={{ background: palette[k % palette.length] }} aria-hidden="true" />
            {s.key}: {usd(s.totalMicroUsd)}
          </li>
        ))}
      </ul>
      <details>
        <summary>Figures</summary>
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">{title}</caption>
            <thead>
              <tr>
                <th scope="col">{report.bucket === 'hour' ? 'Hour' : 'Day'}</th>
                {series.map((s) => (
                  <th key={s.key} scope="col">
                    {s.key}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {buckets.map((start, i) => (
                <tr key={start}>
                  <th scope="row">
                    {report.bucket === 'hour' ? start.slice(0, 13).replace('T', ' ') + 'h' : start.slice(0, 10)}
                  </th>
                  {series.map((s) => (
                    <td key={s.key}>{usd(s.points[i]?.costMicroUsd ?? 0)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
