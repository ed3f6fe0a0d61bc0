import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { useAsync } from '../../components/kit';
import { StaffOptions } from './common';

/** Forward an alert to a person (a staff user id) or a group: the escalation goes on. */
export function ForwardForm({
  names,
  onForward,
}: {
  names: Map<string, string>;
  onForward: (target: string) => Promise<void>;
}) {
  const { t } = useTranslation();
  const [kind, setKind] = useState<'user' | 'group'>('user');
  const [userId, setUserId] = useState('');
  const [groupId, setGroupId] = useState('');
  const groups = useAsync(
    () => raw('GET', '/v1/groups?limit=200') as Promise<{ items: { id: string; name: string }[] }>,
    [],
  );
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const target = kind === 'user' ? `user:${userId.trim()}` : `group:${groupId}`;
    await onForward(target).catch(() => undefined);
  };
  return (
    <form className="sp-alerts-forward" onSubmit={(e) => void submit(e)}>
      <fieldset>
        <legend>{t('alerts.forward.title')}</legend>
        <div className="sp-alerts-radios" role="radiogroup" aria-label={t('alerts.forward.to')}>
          <label className="sp-alerts-inline">
            <input type="radio" name="fwd-kind" checked={kind === 'user'} onChange={() => setKind('user')} />
            {t('alerts.forward.person')}
          </label>
          <label className="sp-alerts-inline">
            <input type="radio" name="fwd-kind" checked={kind === 'group'} onChange={() => setKind('group')} />
            {t('alerts.forward.group')}
          </label>
        </div>
        {kind === 'user' ? (
          <>
            <label htmlFor="fwd-user">{t('alerts.forward.userId')}</label>
            <input
              id="fwd-user"
              value={userId}
              list="fwd-staff"
              autoComplete="off"
              onChange={(e) => setUserId(e.target.value)}
            />
            <StaffOptions id="fwd-staff" names={names} />
          </>
        ) : (
          <>
            <label htmlFor="fwd-group">{t('alerts.forward.groupId')}</label>
            <select id="fwd-group" value={groupId} onChange={(e) => setGroupId(e.target.value)}>
              <option value="">{t('alerts.forward.chooseGroup')}</option>
              {(groups.data?.items ?? []).map((g) => (
                <option key={g.id} value={g.id}>
                  {g.name}
                </option>
              ))}
            </select>
          </>
        )}
        <div className="sp-actions">
          <button type="submit" className="sp-button">
            {t('alerts.forward.submit')}
          </button>
        </div>
      </fieldset>
    </form>
  );
}
