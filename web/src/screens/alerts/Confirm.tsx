import { useId, useRef, useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { ErrorNote } from './common';

/**
 * A button that asks first, in a native modal <dialog> (focus trapped and restored by the browser,
 * Escape cancels). Used here instead of the kit's ConfirmButton: react-aria's pressable buttons
 * inject a <style> element on mount, which the console's policy (style-src 'self') refuses.
 */
export function Confirm({
  label,
  title,
  body,
  danger,
  onConfirm,
}: {
  label: string;
  title: string;
  body: ReactNode;
  danger?: boolean;
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
        onClick={() => {
          setError(null);
          ref.current?.showModal();
        }}
      >
        {label}
      </button>
      <dialog ref={ref} role="alertdialog" aria-labelledby={`${id}-t`} className="sp-dialog sp-alerts-dialog">
        <h2 id={`${id}-t`}>{title}</h2>
        <div>{body}</div>
        <ErrorNote error={error} />
        <div className="sp-actions">
          <button
            type="button"
            className={`sp-button ${danger ? 'sp-danger' : 'sp-primary'}`}
            disabled={busy}
            onClick={() => void confirm()}
          >
            {t('common.confirm')}
          </button>
          <button type="button" className="sp-button" onClick={() => ref.current?.close()}>
            {t('common.cancel')}
          </button>
        </div>
      </dialog>
    </>
  );
}
