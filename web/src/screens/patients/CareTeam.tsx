import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { useSession } from '../../app/session';
import { ConfirmButton, DataTable, ProblemNote, useAsync, When } from '../../components/kit';

interface Member {
  userId: string;
  addedBy: string;
  addedAt: string;
}
interface User {
  id: string;
  displayName: string;
  roles: string[];
  status: string;
}

const base = (id: string) => `/v1/patients/${encodeURIComponent(id)}/care-team`;

/** The physicians and nurses who may read this patient (administrators add and remove them). */
export function CareTeam({ patientId }: { patientId: string }) {
  const { t } = useTranslation();
  const { can } = useSession();
  const team = useAsync(() => raw('GET', base(patientId)) as Promise<{ items: Member[] }>, [patientId]);
  const staff = useAsync(
    async () =>
      can('user.manage') ? ((await raw('GET', '/v1/users?limit=500')) as { items: User[] }).items : ([] as User[]),
    [],
  );
  const [pick, setPick] = useState('');
  const [error, setError] = useState<unknown>(null);
  const name = (id: string) => staff.data?.find((u) => u.id === id)?.displayName ?? id;
  const members = new Set(team.data?.items.map((m) => m.userId));
  const clinicians = (staff.data ?? []).filter(
    (u) => !members.has(u.id) && u.status !== 'disabled' && u.roles.some((r) => r === 'physician' || r === 'nurse'),
  );

  const add = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await raw('PUT', `${base(patientId)}/${encodeURIComponent(pick)}`);
      setPick('');
      team.reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section aria-labelledby="sp-patients-team">
      <h3 id="sp-patients-team">{t('patients.team.title')}</h3>
      <ProblemNote error={team.error ?? error} />
      {team.data && (
        <DataTable<Member>
          caption={t('patients.team.title')}
          rows={team.data.items}
          rowKey={(m) => m.userId}
          empty={t('patients.team.none')}
          columns={[
            { key: 'who', header: t('patients.team.who'), cell: (m) => name(m.userId) },
            { key: 'added', header: t('patients.team.added'), cell: (m) => <When at={m.addedAt} /> },
            {
              key: 'remove',
              header: t('patients.team.action'),
              cell: (m) => (
                <ConfirmButton
                  label={t('patients.team.remove')}
                  title={t('patients.team.removeTitle')}
                  body={t('patients.team.removeBody', { name: name(m.userId) })}
                  onConfirm={async () => {
                    await raw('DELETE', `${base(patientId)}/${encodeURIComponent(m.userId)}`);
                    team.reload();
                  }}
                />
              ),
            },
          ]}
        />
      )}
      {can('user.manage') && (
        <form className="sp-form-row sp-patients-add" onSubmit={add}>
          <label className="sp-field">
            <span>{t('patients.team.add')}</span>
            <select value={pick} onChange={(e) => setPick(e.target.value)} required>
              <option value="">{t('patients.team.choose')}</option>
              {clinicians.map((u) => (
                <option key={u.id} value={u.id}>
                  {u.displayName} ({u.roles.map((r) => t(`patients.roles.${r}`, r)).join(', ')})
                </option>
              ))}
            </select>
          </label>
          <div>
            <button type="submit" className="sp-button sp-primary" disabled={!pick}>
              {t('patients.team.addButton')}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
