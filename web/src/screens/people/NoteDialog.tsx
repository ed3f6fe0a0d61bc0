import { useState, type ReactNode } from 'react';
import { Button, Dialog, DialogTrigger, Heading, Modal } from 'react-aria-components';
import { useTranslation } from 'react-i18next';
import { ProblemNote } from '../../components/kit';

/**
 * A button opening a dialog with a note (and, for reviews, the outcome to choose): what closes a
 * break-glass review or a security alert. The note may name a patient: it goes to the API only.
 */
export function NoteDialog({
  label,
  title,
  body,
  outcomes,
  submitLabel,
  onSubmit,
}: {
  label: string;
  title: string;
  body: ReactNode;
  outcomes?: { value: string; label: string }[];
  submitLabel: string;
  onSubmit: (note: string, outcome: string | undefined) => Promise<void>;
}) {
  const { t } = useTranslation();
  const [note, setNote] = useState('');
  const [outcome, setOutcome] = useState(outcomes?.[0]?.value);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  return (
    <DialogTrigger>
      <Button className="sp-button">{label}</Button>
      <Modal className="sp-modal" isDismissable>
        <Dialog className="sp-dialog">
          {({ close }) => (
            <>
              <Heading slot="title">{title}</Heading>
              <div>{body}</div>
              {outcomes && (
                <fieldset className="sp-people-roles">
                  <legend>{t('people.review.outcome')}</legend>
                  {outcomes.map((o) => (
                    <label key={o.value} className="sp-people-check">
                      <input
                        type="radio"
                        name="sp-people-outcome"
                        checked={outcome === o.value}
                        onChange={() => setOutcome(o.value)}
                      />
                      <span>{o.label}</span>
                    </label>
                  ))}
                </fieldset>
              )}
              <label className="sp-field">
                <span>{t('people.review.note')}</span>
                <textarea className="sp-people-jwks" rows={4} value={note} onChange={(e) => setNote(e.target.value)} />
              </label>
              <ProblemNote error={error} />
              <div className="sp-actions">
                <Button
                  className="sp-button sp-primary"
                  isDisabled={busy}
                  onPress={async () => {
                    setBusy(true);
                    setError(null);
                    try {
                      await onSubmit(note, outcome);
                      close();
                    } catch (e) {
                      setError(e);
                    } finally {
                      setBusy(false);
                    }
                  }}
                >
                  {submitLabel}
                </Button>
                <Button className="sp-button" onPress={close}>
                  {t('common.cancel')}
                </Button>
              </div>
            </>
          )}
        </Dialog>
      </Modal>
    </DialogTrigger>
  );
}
