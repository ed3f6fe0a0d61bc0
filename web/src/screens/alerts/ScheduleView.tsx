import { useCallback, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { useSession } from '../../app/session';
import { ConfirmButton, Page, useAsync } from '../../components/kit';
import { ErrorNote, nameOf, timeIn, useStaffNames } from './common';
import { ScheduleCalendar } from './ScheduleCalendar';
import { Overrides } from './Overrides';
import { SwapForm } from './SwapForm';
import type { Schedule } from './schedule-types';

/** One schedule: who is on call now, the calendar, its layers and overrides. */
export function ScheduleView() {
  const { id = '' } = useParams();
  const { t, i18n } = useTranslation();
  const { can } = useSession();
  const navigate = useNavigate();
  const names = useStaffNames();
  const [version, setVersion] = useState(0);
  const [range, setRange] = useState<{ from: string; to: string } | null>(null);
  const onRange = useCallback((from: string, to: string) => setRange({ from, to }), []);
  const path = `/v1/schedules/${encodeURIComponent(id)}`;
  const s = useAsync(() => raw('GET', path) as Promise<Schedule>, [id]);
  const now = useAsync(
    () => raw('GET', `${path}/on-call`) as Promise<{ userIds: string[]; end: string | null }>,
    [id, version],
  );
  const manage = can('schedule.manage');
  const sch = s.data;
  return (
    <Page
      title={sch?.name ?? t('alerts.schedules.title')}
      actions={
        manage &&
        sch && (
          <>
            <Link className="sp-button" to={`/alerts/schedules/${id}/edit`}>
              {t('alerts.schedules.edit')}
            </Link>
            <ConfirmButton
              danger
              label={t('alerts.schedules.delete')}
              title={t('alerts.schedules.deleteTitle')}
              body={t('alerts.schedules.deleteBody')}
              onConfirm={async () => {
                await raw('DELETE', path);
                navigate('/alerts/schedules');
              }}
            />
          </>
        )
      }
    >
      <p>
        <Link to="/alerts/schedules">{t('alerts.schedules.back')}</Link>
      </p>
      <ErrorNote error={s.error} />
      {sch && (
        <>
          <p data-testid="on-call-now">
            {now.data?.userIds.length
              ? t('alerts.schedules.onCallNow', {
                  who: now.data.userIds.map((u) => nameOf(names, u)).join(', '),
                  until: now.data.end ? timeIn(sch.timeZone, now.data.end, i18n.language, true) : '—',
                })
              : t('alerts.schedules.nobodyNow')}
          </p>
          <ScheduleCalendar scheduleId={id} zone={sch.timeZone} names={names} version={version} onRange={onRange} />
          <h2>{t('alerts.schedules.layers')}</h2>
          <ol className="sp-alerts-layers">
            {sch.layers.map((l, i) => (
              <li key={i}>
                <strong>{l.name ?? t('alerts.schedules.layerN', { n: i + 1 })}</strong>:{' '}
                {t(`alerts.rotation.${l.kind}`)}
                {l.kind === 'custom' && (l.rrule ? ` (${l.rrule})` : ` (${l.shiftHours} h)`)} ·{' '}
                {t('alerts.schedules.handoffAt', { time: l.handoffTime, date: l.startDate })} ·{' '}
                {l.userIds.map((u) => nameOf(names, u)).join(' → ')}
                {l.restrictions?.length
                  ? ` · ${t('alerts.schedules.restricted', { count: l.restrictions.length })}`
                  : ''}
              </li>
            ))}
          </ol>
          {range && (
            <p>
              <a
                className="sp-button"
                download={`schedule-${id}.ics`}
                href={`${path}/calendar.ics?from=${encodeURIComponent(range.from)}&to=${encodeURIComponent(range.to)}`}
              >
                {t('alerts.schedules.ics')}
              </a>
            </p>
          )}
          {range && (
            <Overrides
              scheduleId={id}
              zone={sch.timeZone}
              names={names}
              from={range.from}
              to={range.to}
              version={version}
              onChange={() => setVersion((v) => v + 1)}
            />
          )}
          {manage && (
            <SwapForm scheduleId={id} zone={sch.timeZone} names={names} onChange={() => setVersion((v) => v + 1)} />
          )}
        </>
      )}
    </Page>
  );
}
