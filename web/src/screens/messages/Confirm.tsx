import { useId, useRef, useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { ProblemNote } from '../../components/kit';

/**
 * A button that asks first, in a native modal <dialog> (the browser traps and restores focus; Escape
 * cancels). Not the kit's ConfirmButton: react-aria's pressable buttons inject a <style> element,
 * which the console's policy (style-src 'self') refuses.
 */
export function Confirm({
  label,
  title,
  body,
  confirmLabel,
  onConfirm,
}: {
  label: string;
  title: string;
  body: ReactNode;
  confirmLabel: string;
  onConfirm: () => Promise<void>;
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
        className="sp-button"
        onClick={() => {
          setError(null);
          ref.current?.showModal();
        }}
      >
        {label}
      </button>
      <dialog ref={ref} role="alertdialog" aria-labelledby={`${id}-t`} className="sp-dialog sp-messages-dialog">
        <h2 id={`${id}-t`}>{title}</h2>
        <p>{body}</p>
        <ProblemNote error={error} />
        <div className="sp-actions">
          <button type="button" className="sp-button sp-danger" disabled={busy} onClick={() => void confirm()}>
            {confirmLabel}
          </button>
          <button type="button" className="sp-button" onClick={() => ref.current?.close()}>
            {t('common.cancel')}
          </button>
        </div>
      </dialog>
    </>
  );
}
