import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { useSession } from '../../app/session';
import { DataTable, useAsync } from '../../components/kit';
import { ErrorNote, instantOf, nameOf, StaffOptions, timeIn } from './common';
import type { Override } from './schedule-types';

/**
 * Overrides in the calendar's range, and a form to add one: the start and end are typed as wall-clock
 * times in the schedule's zone (as the calendar shows them) and sent to the API as instants.
 */
export function Overrides(props: {
  scheduleId: string;
  zone: string;
  names: Map<string, string>;
  from: string;
  to: string;
  version: number;
  onChange: () => void;
}) {
  const { scheduleId, zone, names, from, to, version, onChange } = props;
  const { t, i18n } = useTranslation();
  const { can } = useSession();
  const [userId, setUserId] = useState('');
  const [start, setStart] = useState('');
  const [end, setEnd] = useState('');
  const [error, setError] = useState<unknown>(null);
  const path = `/v1/schedules/${encodeURIComponent(scheduleId)}/overrides`;
  const list = useAsync(
    () =>
      raw('GET', `${path}?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`) as Promise<{
        items: Override[];
      }>,
    [path, from, to, version],
  );
  const manage = can('schedule.manage');
  const add = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const span = {
        userId: userId.trim(),
        start: start ? instantOf(zone, start) : '',
        end: end ? instantOf(zone, end) : '',
      };
      await raw('POST', path, span);
      setUserId('');
      onChange();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (o: Override) => {
    setError(null);
    try {
      await raw('DELETE', `${path}/${encodeURIComponent(o.id)}`);
      onChange();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-labelledby="ovr-heading">
      <h2 id="ovr-heading">{t('alerts.overrides.title')}</h2>
      <ErrorNote error={list.error} />
      <DataTable
        caption={t('alerts.overrides.title')}
        rows={list.data?.items ?? []}
        rowKey={(o) => o.id}
        empty={t('alerts.overrides.none')}
        columns={[
          { key: 'who', header: t('alerts.overrides.who'), cell: (o) => nameOf(names, o.userId) },
          {
            key: 'start',
            header: t('alerts.overrides.start'),
            cell: (o) => timeIn(zone, o.start, i18n.language, true),
          },
          { key: 'end', header: t('alerts.overrides.end'), cell: (o) => timeIn(zone, o.end, i18n.language, true) },
          {
            key: 'kind',
            header: t('alerts.overrides.kind'),
            cell: (o) => (o.swapId ? t('alerts.overrides.swap') : t('alerts.overrides.override')),
          },
          ...(manage
            ? [
                {
                  key: 'remove',
                  header: t('alerts.overrides.actions'),
                  cell: (o: Override) => (
                    <button type="button" className="sp-button" onClick={() => void remove(o)}>
                      {t('alerts.overrides.remove')}
                    </button>
                  ),
                },
              ]
            : []),
        ]}
      />
      {manage && (
        <form onSubmit={(e) => void add(e)} className="sp-alerts-form" noValidate>
          <h3>{t('alerts.overrides.add')}</h3>
          <p className="sp-intro">{t('alerts.overrides.zoneNote', { zone })}</p>
          <div className="sp-form-row">
            <div>
              <label htmlFor="ovr-user">{t('alerts.overrides.userId')}</label>
              <input
                id="ovr-user"
                list="ovr-staff"
                autoComplete="off"
                value={userId}
                onChange={(e) => setUserId(e.target.value)}
              />
              <StaffOptions id="ovr-staff" names={names} />
            </div>
            <div>
              <label htmlFor="ovr-start">{t('alerts.overrides.start')}</label>
              <input id="ovr-start" type="datetime-local" value={start} onChange={(e) => setStart(e.target.value)} />
            </div>
            <div>
              <label htmlFor="ovr-end">{t('alerts.overrides.end')}</label>
              <input id="ovr-end" type="datetime-local" value={end} onChange={(e) => setEnd(e.target.value)} />
            </div>
          </div>
          <ErrorNote error={error} />
          <div className="sp-actions">
            <button type="submit" className="sp-button sp-primary">
              {t('alerts.overrides.submit')}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
