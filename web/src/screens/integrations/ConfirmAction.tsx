import { useId, useRef, useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { ProblemNote } from '../../components/kit';

/**
 * A button that asks first, in a native modal <dialog> (focus kept inside, Escape closes, the
 * page behind inert). The kit's ConfirmButton mounts react-aria's Button, whose press handling
 * injects a <style> element that the console's policy (style-src 'self') refuses.
 */
export function ConfirmAction({
  label,
  title,
  body,
  onConfirm,
  disabled,
}: {
  label: string;
  title: string;
  body: ReactNode;
  onConfirm: () => Promise<void>;
  disabled?: boolean;
}) {
  const { t } = useTranslation();
  const dialog = useRef<HTMLDialogElement>(null);
  const id = useId();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      dialog.current?.close();
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
        className="sp-button sp-danger"
        disabled={disabled}
        onClick={() => dialog.current?.showModal()}
      >
        {label}
      </button>
      <dialog
        ref={dialog}
        role="alertdialog"
        aria-labelledby={`${id}-title`}
        className="sp-dialog sp-integrations-dialog"
      >
        <h2 id={`${id}-title`}>{title}</h2>
        <div>{body}</div>
        <ProblemNote error={error} />
        <div className="sp-actions">
          <button type="button" className="sp-button sp-danger" disabled={busy} onClick={() => void confirm()}>
            {t('common.confirm')}
          </button>
          <button type="button" className="sp-button" onClick={() => dialog.current?.close()}>
            {t('common.cancel')}
          </button>
        </div>
      </dialog>
    </>
  );
}
