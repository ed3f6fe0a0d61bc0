import { useCallback, useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { Input, Label, TextField, type TextFieldProps } from 'react-aria-components';
import { useTranslation } from 'react-i18next';
import type { Problem } from '../app/api';

/** A screen's frame: its one h1 (focused on arrival by the shell), an intro line and actions. */
export function Page({
  title,
  intro,
  actions,
  children,
}: {
  title: string;
  intro?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
}) {
  return (
    <section className="sp-page">
      <div className="sp-page-head">
        <h1>{title}</h1>
        {actions && <div className="sp-actions">{actions}</div>}
      </div>
      {intro && <p className="sp-intro">{intro}</p>}
      {children}
    </section>
  );
}

/** An API refusal or failure in words: the problem's title and stable code (never PHI). */
export function ProblemNote({ error }: { error: unknown }) {
  const { t } = useTranslation();
  if (!error) return null;
  const p = error as Partial<Problem>;
  return (
    <p className="sp-problem" role="alert" data-code={p.code}>
      {t('common.error', { title: p.title ?? String(error), code: p.code ?? '?' })}
    </p>
  );
}

export interface Async<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Loads with `load` whenever `deps` change; `reload()` loads again (after a change). */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** A labelled text input (react-aria: label, description and error wired for assistive technology). */
export function Field({ label, ...props }: TextFieldProps & { label: string }) {
  return (
    <TextField className="sp-field" {...props}>
      <Label>{label}</Label>
      <Input />
    </TextField>
  );
}

/**
 * A button that asks first: a native modal <dialog> (the browser traps and restores focus, Escape
 * cancels, the page behind is inert) saying what will happen, with the action and Cancel. For every
 * change that cannot be undone (erasure, revocation, disabling an account). The refusal of the API,
 * if any, is shown in the dialog, which stays open.
 */
export function ConfirmButton({
  label,
  title,
  body,
  confirmLabel,
  danger,
  isDisabled,
  onConfirm,
}: {
  label: string;
  title: string;
  body: ReactNode;
  confirmLabel?: string;
  danger?: boolean;
  isDisabled?: boolean;
  onConfirm: () => Promise<void> | void;
}) {
  const { t } = useTranslation();
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      ref.current?.close();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button
        type="button"
        className={`sp-button${danger ? ' sp-danger' : ''}`}
        disabled={isDisabled}
        onClick={() => {
          setError(null);
          ref.current?.showModal();
        }}
      >
        {label}
      </button>
      <dialog ref={ref} role="alertdialog" aria-labelledby={`${id}-t`} className="sp-dialog sp-confirm">
        <h2 id={`${id}-t`}>{title}</h2>
        <div>{body}</div>
        <ProblemNote error={error} />
        <div className="sp-actions">
          <button
            type="button"
            className={`sp-button ${danger ? 'sp-danger' : 'sp-primary'}`}
            disabled={busy}
            onClick={() => void confirm()}
          >
            {confirmLabel ?? t('common.confirm')}
          </button>
          <button type="button" className="sp-button" onClick={() => ref.current?.close()}>
            {t('common.cancel')}
          </button>
        </div>
      </dialog>
    </>
  );
}

export interface Column<T> {
  key: string;
  header: string;
  cell: (row: T) => ReactNode;
}

/**
 * A plain, accessible table (caption, header cells with scope); on a phone each row becomes a card
 * whose cells carry their header as a label (CSS, from `data-label`).
 */
export function DataTable<T>({
  caption,
  columns,
  rows,
  rowKey,
  empty,
}: {
  caption: string;
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string;
  empty?: string;
}) {
  const { t } = useTranslation();
  if (rows.length === 0) return <p className="sp-empty">{empty ?? t('common.none')}</p>;
  return (
    <div className="sp-table-wrap">
      <table className="sp-table">
        <caption className="sp-visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c.key} scope="col">
                {c.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={rowKey(r)}>
              {columns.map((c) => (
                <td key={c.key} data-label={c.header}>
                  {c.cell(r)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A status word as a coloured badge (colour is never the only signal: the word is always there). */
export function Badge({
  tone = 'neutral',
  children,
}: {
  tone?: 'ok' | 'warn' | 'bad' | 'neutral';
  children: ReactNode;
}) {
  return <span className={`sp-badge sp-${tone}`}>{children}</span>;
}

/** Local date and time of an ISO instant, in the console's language. */
export function When({ at }: { at: string | null | undefined }) {
  const { i18n } = useTranslation();
  if (!at) return <>—</>;
  const d = new Date(at);
  return <time dateTime={at}>{d.toLocaleString(i18n.language, { dateStyle: 'medium', timeStyle: 'short' })}</time>;
}
