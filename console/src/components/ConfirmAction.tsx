import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { ApiError } from '../api/client';

/**
 * A button that asks before it acts: a modal dialog (Escape or Cancel closes it, focus stays inside)
 * with what will happen, an optional note, and the API's own error when the action is refused.
 */
export function ConfirmAction({
  label,
  title,
  description,
  confirmLabel,
  withNote = false,
  tone = 'primary',
  disabledReason,
  compact = false,
  extra,
  onConfirm,
}: {
  label: string;
  title: string;
  description: ReactNode;
  confirmLabel?: string;
  withNote?: boolean;
  tone?: 'primary' | 'danger';
  /** Shown instead of acting when the action is not legal now. */
  disabledReason?: string | undefined;
  /** In tight places (a table row) the reason is a tooltip and read to screen readers, not printed. */
  compact?: boolean;
  /** More inputs inside the dialog (e.g. a new expiry). */
  extra?: ReactNode;
  onConfirm(note: string): Promise<unknown>;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [open, setOpen] = useState(false);
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const ids = { title: useId(), note: useId(), reason: useId() };

  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (open && !element.open) element.showModal();
    if (!open && element.open) element.close();
  }, [open]);

  const confirm = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await onConfirm(note.trim());
      setOpen(false);
      setNote('');
    } catch (caught) {
      setError(caught instanceof ApiError ? `${caught.code}: ${caught.message}` : String(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <span className="action">
      <button
        type="button"
        className={`button button-${tone}${compact ? ' button-small' : ''}`}
        disabled={disabledReason !== undefined}
        title={disabledReason}
        aria-describedby={disabledReason ? ids.reason : undefined}
        onClick={() => {
          setError(undefined);
          setOpen(true);
        }}
      >
        {label}
      </button>
      {disabledReason ? (
        <span id={ids.reason} className={compact ? 'visually-hidden' : 'disabled-reason'}>
          {disabledReason}
        </span>
      ) : null}
      <dialog ref={dialog} aria-labelledby={ids.title} onClose={() => setOpen(false)} className="dialog">
        {open ? (
          <form
            method="dialog"
            onSubmit={(event) => {
              event.preventDefault();
              void confirm();
            }}
          >
            <h2 id={ids.title}>{title}</h2>
            <div className="dialog-body">{description}</div>
            {extra}
            {withNote ? (
              <label htmlFor={ids.note} className="field">
                Note (kept with the decision)
                <textarea id={ids.note} value={note} maxLength={1000} rows={3} onChange={(e) => setNote(e.target.value)} />
              </label>
            ) : null}
            {error ? (
              <p className="notice notice-error" role="alert">
                {error}
              </p>
            ) : null}
            <div className="dialog-buttons">
              <button type="button" className="button" onClick={() => setOpen(false)} disabled={busy}>
                Cancel
              </button>
              <button type="submit" className={`button button-${tone}`} disabled={busy} autoFocus>
                {busy ? 'Working…' : (confirmLabel ?? label)}
              </button>
            </div>
          </form>
        ) : null}
      </dialog>
    </span>
  );
}
