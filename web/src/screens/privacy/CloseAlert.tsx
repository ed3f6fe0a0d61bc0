import { useId, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { ProblemNote } from '../../components/kit';
import { OUTCOMES, type Outcome } from './privacy-api';

/**
 * Closing an alert (it cannot be reopened): a native modal <dialog> like the kit's confirmations
 * (focus trapped and restored, Escape cancels) asking for the outcome and a note, then confirming.
 * The API's refusal, if any, stays in the dialog.
 */
export function CloseAlert({ onClose }: { onClose: (outcome: Outcome, note: string) => Promise<void> }) {
  const { t } = useTranslation();
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const confirm = async () => {
    if (!outcome || !note.trim()) {
      setError({ code: 'SP_CONSOLE_INCOMPLETE', title: t('privacy.close.incomplete') });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await onClose(outcome, note);
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
        {t('privacy.close.action')}
      </button>
      <dialog ref={ref} role="alertdialog" aria-labelledby={`${id}-t`} className="sp-dialog sp-confirm">
        <h2 id={`${id}-t`}>{t('privacy.close.title')}</h2>
        <p>{t('privacy.close.body')}</p>
        <fieldset className="sp-privacy-choices">
          <legend>{t('privacy.close.outcome')}</legend>
          {OUTCOMES.map((o) => (
            <label key={o} className="sp-privacy-check">
              <input type="radio" name={`${id}-outcome`} checked={outcome === o} onChange={() => setOutcome(o)} />
              <span>{t(`privacy.outcomes.${o}`)}</span>
            </label>
          ))}
        </fieldset>
        <div className="sp-field">
          <label htmlFor={`${id}-note`}>{t('privacy.close.note')}</label>
          <textarea
            id={`${id}-note`}
            className="sp-privacy-text"
            rows={3}
            maxLength={4000}
            value={note}
            onChange={(e) => setNote(e.target.value)}
          />
        </div>
        <ProblemNote error={error} />
        <div className="sp-actions">
          <button type="button" className="sp-button sp-primary" disabled={busy} onClick={() => void confirm()}>
            {t('privacy.close.confirm')}
          </button>
          <button type="button" className="sp-button" onClick={() => ref.current?.close()}>
            {t('common.cancel')}
          </button>
        </div>
      </dialog>
    </>
  );
}
