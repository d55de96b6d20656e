import { words } from '../format';

const tones: Record<string, 'good' | 'warn' | 'bad' | 'info' | 'muted'> = {
  ok: 'good',
  succeeded: 'good',
  resolved: 'good',
  admitted: 'good',
  pass: 'good',
  created: 'good',
  modified: 'info',
  undone: 'good',
  not_undoable: 'warn',
  running: 'info',
  queued: 'muted',
  paused: 'muted',
  remediating: 'info',
  cancel_requested: 'warn',
  open: 'warn',
  awaiting_approval: 'warn',
  degraded: 'warn',
  warn: 'warn',
  soft_limit: 'warn',
  medium: 'warn',
  approval_required: 'warn',
  downgrade: 'warn',
  low: 'muted',
  skipped: 'muted',
  no_change: 'muted',
  unavailable: 'warn',
  cancelled: 'muted',
  expired: 'muted',
  denied: 'bad',
  failed: 'bad',
  fail: 'bad',
  blocking: 'bad',
  hard_limit: 'bad',
  high: 'bad',
  critical: 'bad',
  refused: 'bad',
  block: 'bad',
};

/** A state, status or severity as a coloured label; the text always says it, colour only repeats it. */
export function Chip({ value, label }: { value: string; label?: string }) {
  return <span className={`chip chip-${tones[value] ?? 'muted'}`}>{label ?? words(value)}</span>;
}
