import { useState } from 'react';
import { useNavigate } from 'react-router';
import { useTranslation } from 'react-i18next';
import { ProblemNote } from '../../components/kit';
import { InputNote } from './InputNote';
import type { Me } from '../../app/session';
import type { Messaging } from './useMessaging';
import { asProblem } from './problem';

/**
 * Start a conversation with colleagues from the messaging directory (any active staff member who
 * messages: the server's rule). One colleague makes a direct conversation, more a group. Someone
 * without a messaging device yet cannot be reached (their device would never be added), so they
 * are listed but cannot be picked.
 */
export function NewConversation({ m, me }: { m: Messaging; me: Me }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [picked, setPicked] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [invalid, setInvalid] = useState('');
  const colleagues = m.directory.filter((c) => c.id !== me.id);

  const start = async () => {
    setError(null);
    setInvalid('');
    if (picked.length === 0) return setInvalid(t('messages.pickSomeone'));
    setBusy(true);
    try {
      const view = await m.client!.createConversation({
        kind: picked.length === 1 ? 'direct' : 'group',
        members: picked.map((id) => ({ kind: 'user' as const, id })),
      });
      navigate(view.id);
    } catch (e) {
      setError(asProblem(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="sp-messages-new-h" className="sp-messages-new">
      <h2 id="sp-messages-new-h">{t('messages.newTitle')}</h2>
      {colleagues.length === 0 ? (
        <p className="sp-empty">{t('messages.noColleagues')}</p>
      ) : (
        <fieldset className="sp-messages-pick" aria-describedby="sp-messages-pick-help">
          <legend>{t('messages.pickLabel')}</legend>
          <p id="sp-messages-pick-help" className="sp-messages-muted">
            {t('messages.pickHelp')}
          </p>
          {colleagues.map((c) => (
            <label key={c.id} className="sp-messages-check">
              <input
                type="checkbox"
                value={c.id}
                disabled={!c.reachable}
                checked={picked.includes(c.id)}
                onChange={(e) => setPicked((p) => (e.target.checked ? [...p, c.id] : p.filter((x) => x !== c.id)))}
              />
              {c.displayName}
              {!c.reachable && <span className="sp-messages-muted"> — {t('messages.unreachable')}</span>}
            </label>
          ))}
        </fieldset>
      )}
      <InputNote text={invalid} />
      <ProblemNote error={error} />
      <button
        type="button"
        className="sp-button sp-primary"
        disabled={busy || colleagues.length === 0}
        onClick={() => void start()}
      >
        {busy ? t('messages.starting') : t('messages.start')}
      </button>
    </section>
  );
}
