import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Field, ProblemNote } from '../../components/kit';
import { clients } from './people-api';

/**
 * Registers a SMART backend-services client: a name, its system scopes (space-separated, e.g.
 * `system/AuditEvent.rs`) and either a JWKS URL or the public keys as a JWK Set (JSON).
 */
export function ClientForm({ onCreated }: { onCreated: () => void }) {
  const { t } = useTranslation();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState('');
  const [jwksUrl, setJwksUrl] = useState('');
  const [jwks, setJwks] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState('');

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setDone('');
    let keys: unknown;
    if (jwks.trim()) {
      try {
        keys = JSON.parse(jwks);
      } catch {
        setError({ code: 'JSON', title: t('people.clients.badJson') });
        return;
      }
    }
    setBusy(true);
    try {
      const c = await clients.register({
        name,
        scopes: scopes.split(/\s+/).filter(Boolean),
        ...(jwksUrl.trim() ? { jwksUrl: jwksUrl.trim() } : {}),
        ...(keys !== undefined ? { jwks: keys } : {}),
      });
      setDone(t('people.clients.registered', { name: c.name, id: c.clientId }));
      setName('');
      setScopes('');
      setJwksUrl('');
      setJwks('');
      onCreated();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="sp-card sp-people-form" onSubmit={(e) => void submit(e)} aria-labelledby="sp-people-client-h">
      <h2 id="sp-people-client-h">{t('people.clients.create')}</h2>
      <p className="sp-why">{t('people.clients.why')}</p>
      <div className="sp-form-row">
        <Field label={t('people.clients.name')} value={name} onChange={setName} isRequired />
        <Field label={t('people.clients.scopesLabel')} value={scopes} onChange={setScopes} isRequired />
      </div>
      <Field label={t('people.clients.jwksUrl')} type="url" value={jwksUrl} onChange={setJwksUrl} />
      <label className="sp-field">
        <span>{t('people.clients.jwks')}</span>
        <textarea
          className="sp-people-jwks"
          rows={5}
          spellCheck={false}
          value={jwks}
          onChange={(e) => setJwks(e.target.value)}
        />
      </label>
      <ProblemNote error={error} />
      {done && (
        <p className="sp-people-note" role="status">
          {done}
        </p>
      )}
      <div className="sp-actions">
        <button type="submit" className="sp-button sp-primary" disabled={busy}>
          {t('people.clients.submit')}
        </button>
      </div>
    </form>
  );
}
