import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Field, ProblemNote } from '../../components/kit';
import { useSession } from '../../app/session';
import { apiKeys } from './people-api';
import { KEY_SCOPES, mayDelegate } from './key-scopes';

/** Creates an API key with the scopes this person may delegate and an optional lifetime in days. */
export function ApiKeyForm({ onCreated }: { onCreated: (name: string, key: string) => void }) {
  const { t } = useTranslation();
  const { can } = useSession();
  const offered = Object.keys(KEY_SCOPES).filter((s) => mayDelegate(s, can));
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>([]);
  const [days, setDays] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await apiKeys.create({
        name,
        scopes,
        ...(days.trim() ? { expiresInDays: Number(days) } : {}),
      });
      setName('');
      setScopes([]);
      setDays('');
      onCreated(r.apiKey.name, r.key);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="sp-card sp-people-form" onSubmit={(e) => void submit(e)} aria-labelledby="sp-people-key-h">
      <h2 id="sp-people-key-h">{t('people.keys.create')}</h2>
      <p className="sp-why">{t('people.keys.why')}</p>
      <div className="sp-form-row">
        <Field label={t('people.keys.name')} value={name} onChange={setName} isRequired />
        <Field label={t('people.keys.days')} inputMode="numeric" value={days} onChange={setDays} />
      </div>
      <fieldset className="sp-people-roles">
        <legend>{t('people.keys.scopes')}</legend>
        {offered.map((s) => (
          <label key={s} className="sp-people-check">
            <input
              type="checkbox"
              checked={scopes.includes(s)}
              onChange={(e) => setScopes(e.target.checked ? [...scopes, s] : scopes.filter((x) => x !== s))}
            />
            <span>
              <strong>{s}</strong> — {t(`people.keys.scopeHelp.${s}`)}
            </span>
          </label>
        ))}
        {offered.length < Object.keys(KEY_SCOPES).length && <p className="sp-why">{t('people.keys.notOffered')}</p>}
      </fieldset>
      <ProblemNote error={error} />
      <div className="sp-actions">
        <button type="submit" className="sp-button sp-primary" disabled={busy}>
          {t('people.keys.submit')}
        </button>
      </div>
    </form>
  );
}
