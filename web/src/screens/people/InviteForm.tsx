import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Field, ProblemNote } from '../../components/kit';
import { users, type Invited } from './people-api';
import { RolePicker } from './RolePicker';
import { OneTimeSecret } from './OneTimeSecret';

/**
 * Invites a staff member: the API answers a one-time enrolment link, shown here once to hand over
 * (Sealpost does not e-mail it; `sealpost users invite` prints it the same way).
 */
export function InviteForm({ onInvited }: { onInvited: () => void }) {
  const { t } = useTranslation();
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [roles, setRoles] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [invited, setInvited] = useState<Invited | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await users.invite({ email, displayName: name, roles });
      setInvited(r);
      setEmail('');
      setName('');
      setRoles([]);
      onInvited();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (invited)
    return (
      <OneTimeSecret
        label={t('people.invite.link', { name: invited.user.displayName })}
        value={invited.enrolmentUrl}
        hint={t('people.invite.hint')}
        onDone={() => setInvited(null)}
      />
    );
  return (
    <form className="sp-card sp-people-form" onSubmit={(e) => void submit(e)} aria-labelledby="sp-people-invite-h">
      <h2 id="sp-people-invite-h">{t('people.invite.title')}</h2>
      <p className="sp-why">{t('people.invite.why')}</p>
      <div className="sp-form-row">
        <Field label={t('people.invite.email')} type="email" value={email} onChange={setEmail} isRequired />
        <Field label={t('people.invite.name')} value={name} onChange={setName} isRequired />
      </div>
      <RolePicker legend={t('people.invite.roles')} value={roles} onChange={setRoles} />
      <ProblemNote error={error} />
      <div className="sp-actions">
        <button type="submit" className="sp-button sp-primary" disabled={busy}>
          {t('people.invite.submit')}
        </button>
      </div>
    </form>
  );
}
