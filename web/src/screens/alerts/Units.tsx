import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { useSession } from '../../app/session';
import { ConfirmButton, DataTable, Page, useAsync, When } from '../../components/kit';
import { ErrorNote, nameOf, splitIds, useStaffNames } from './common';
import { Groups } from './Groups';
import type { Schedule } from './schedule-types';

interface UnitRole {
  unit: string;
  role: string;
  userIds: string[];
  scheduleId: string | null;
  updatedAt: string;
}

/**
 * Who holds a role in a unit (the alert target `<role>@<unit>`): listed people and/or whoever is on
 * call on a schedule. Administrators assign and remove; everyone with alert.read sees the list.
 */
export function Units() {
  const { t } = useTranslation();
  const { can } = useSession();
  const names = useStaffNames();
  const [version, setVersion] = useState(0);
  const [unit, setUnit] = useState('');
  const [role, setRole] = useState('');
  const [people, setPeople] = useState('');
  const [scheduleId, setScheduleId] = useState('');
  const [error, setError] = useState<unknown>(null);
  const list = useAsync(() => raw('GET', '/v1/units') as Promise<{ items: UnitRole[] }>, [version]);
  const schedules = useAsync(
    () =>
      can('schedule.read')
        ? (raw('GET', '/v1/schedules?limit=200') as Promise<{ items: Schedule[] }>)
        : Promise.resolve({ items: [] as Schedule[] }),
    [],
  );
  const scheduleName = (id: string) => schedules.data?.items.find((s) => s.id === id)?.name ?? id;
  const manage = can('alert.manage');
  const path = (r: { unit: string; role: string }) =>
    `/v1/units/${encodeURIComponent(r.unit.trim())}/roles/${encodeURIComponent(r.role.trim())}`;
  const assign = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await raw('PUT', path({ unit: unit || '-', role: role || '-' }), {
        userIds: splitIds(people),
        scheduleId: scheduleId || null,
      });
      setUnit('');
      setRole('');
      setPeople('');
      setScheduleId('');
      setVersion((v) => v + 1);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Page title={t('alerts.units.title')} intro={t('alerts.units.intro')}>
      <ErrorNote error={list.error} />
      <DataTable
        caption={t('alerts.units.title')}
        rows={list.data?.items ?? []}
        rowKey={(r) => `${r.role}@${r.unit}`}
        empty={t('alerts.units.none')}
        columns={[
          { key: 'target', header: t('alerts.units.target'), cell: (r) => <code>{`${r.role}@${r.unit}`}</code> },
          {
            key: 'people',
            header: t('alerts.units.people'),
            cell: (r) => r.userIds.map((u) => nameOf(names, u)).join(', ') || '—',
          },
          {
            key: 'schedule',
            header: t('alerts.units.schedule'),
            cell: (r) => (r.scheduleId ? scheduleName(r.scheduleId) : '—'),
          },
          { key: 'updated', header: t('alerts.policies.updated'), cell: (r) => <When at={r.updatedAt} /> },
          ...(manage
            ? [
                {
                  key: 'remove',
                  header: t('alerts.overrides.actions'),
                  cell: (r: UnitRole) => (
                    <ConfirmButton
                      danger
                      label={t('alerts.units.remove', { target: `${r.role}@${r.unit}` })}
                      title={t('alerts.units.removeTitle')}
                      body={t('alerts.units.removeBody', { target: `${r.role}@${r.unit}` })}
                      onConfirm={async () => {
                        await raw('DELETE', path(r));
                        setVersion((v) => v + 1);
                      }}
                    />
                  ),
                },
              ]
            : []),
        ]}
      />
      {manage && (
        <form onSubmit={(e) => void assign(e)} className="sp-alerts-form" noValidate aria-labelledby="unit-heading">
          <h2 id="unit-heading">{t('alerts.units.assign')}</h2>
          <p className="sp-intro">{t('alerts.units.assignNote')}</p>
          <div className="sp-form-row">
            <div>
              <label htmlFor="unit-unit">{t('alerts.units.unit')}</label>
              <input id="unit-unit" autoComplete="off" value={unit} onChange={(e) => setUnit(e.target.value)} />
            </div>
            <div>
              <label htmlFor="unit-role">{t('alerts.units.role')}</label>
              <input id="unit-role" autoComplete="off" value={role} onChange={(e) => setRole(e.target.value)} />
            </div>
          </div>
          <div className="sp-form-row">
            <div>
              <label htmlFor="unit-people">{t('alerts.units.peopleIds')}</label>
              <input id="unit-people" autoComplete="off" value={people} onChange={(e) => setPeople(e.target.value)} />
            </div>
            <div>
              <label htmlFor="unit-schedule">{t('alerts.units.schedule')}</label>
              <select id="unit-schedule" value={scheduleId} onChange={(e) => setScheduleId(e.target.value)}>
                <option value="">{t('alerts.units.noSchedule')}</option>
                {schedules.data?.items.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.name}
                  </option>
                ))}
              </select>
            </div>
          </div>
          <ErrorNote error={error} />
          <div className="sp-actions">
            <button type="submit" className="sp-button sp-primary">
              {t('alerts.units.submit')}
            </button>
          </div>
        </form>
      )}
      <Groups names={names} />
    </Page>
  );
}
