import { useRef, useState } from 'react';
import { Button } from 'react-aria-components';
import { useTranslation } from 'react-i18next';

/**
 * A secret the API answers once (an enrolment link, an API key): in a read-only field to copy, with
 * the warning that it will not be shown again. It lives only in this component's state: never in
 * the address bar, storage or the console log; "Done" forgets it.
 */
export function OneTimeSecret({
  label,
  value,
  hint,
  onDone,
}: {
  label: string;
  value: string;
  hint: string;
  onDone: () => void;
}) {
  const { t } = useTranslation();
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    input.current?.select();
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
    } catch {
      // No clipboard permission: the text is selected, the person copies it by hand.
      setCopied(false);
    }
  };
  return (
    <div className="sp-card sp-people-secret" role="region" aria-label={label}>
      <label className="sp-field">
        <span>{label}</span>
        <input
          ref={input}
          className="sp-people-secret-value"
          readOnly
          value={value}
          onFocus={(e) => e.target.select()}
        />
      </label>
      <p className="sp-why">{hint}</p>
      <p className="sp-people-warning" role="status">
        {copied ? t('people.secret.copied') : t('people.secret.once')}
      </p>
      <div className="sp-actions">
        <Button className="sp-button sp-primary" onPress={() => void copy()}>
          {t('people.secret.copy')}
        </Button>
        <Button className="sp-button" onPress={onDone}>
          {t('people.secret.done')}
        </Button>
      </div>
    </div>
  );
}
