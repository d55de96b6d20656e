/** Micro-USD as dollars, with enough digits that small runs do not read as $0. */
export function usd(microUsd: number | null | undefined): string {
  if (microUsd === null || microUsd === undefined) return '—';
  const dollars = microUsd / 1e6;
  const abs = Math.abs(microUsd);
  const digits = abs === 0 ? 2 : abs >= 1e6 ? 2 : abs >= 1e4 ? 4 : 6;
  return `${dollars < 0 ? '-' : ''}$${Math.abs(dollars).toFixed(digits)}`;
}

export function count(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : value.toLocaleString('en-US');
}

/** A policy amount in its unit: dollars for cost, tokens for tokens. */
export function amount(value: number | undefined, metric: string): string {
  if (value === undefined) return '—';
  return metric === 'cost' ? usd(value) : `${count(value)} tokens`;
}

export function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(ratio < 0.1 && ratio > 0 ? 1 : 0)} %`;
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const ms = now - new Date(iso).getTime();
  if (Number.isNaN(ms)) return iso;
  const s = Math.round(Math.abs(ms) / 1000);
  const text =
    s < 60
      ? `${s} s`
      : s < 3600
        ? `${Math.round(s / 60)} min`
        : s < 86400
          ? `${Math.round(s / 3600)} h`
          : `${Math.round(s / 86400)} d`;
  return ms >= 0 ? `${text} ago` : `in ${text}`;
}

export function shortId(id: string): string {
  return id.length > 13 ? `${id.slice(0, 8)}…` : id;
}

/** `awaiting_approval` → `awaiting approval`. */
export function words(code: string): string {
  return code.replace(/_/g, ' ');
}

/** An ISO instant from a `datetime-local` input (the browser's local time), or undefined when empty. */
export function fromLocalInput(value: string): string | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}
