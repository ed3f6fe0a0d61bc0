import { Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { useSession } from '../../app/session';
import { DataTable, Page, useAsync, When } from '../../components/kit';
import { ErrorNote } from './common';
import type { Schedule } from './schedule-types';

/** On-call schedules: name, zone, layers; each opens its calendar. */
export function ScheduleList() {
  const { t } = useTranslation();
  const { can } = useSession();
  const list = useAsync(() => raw('GET', '/v1/schedules?limit=200') as Promise<{ items: Schedule[] }>, []);
  return (
    <Page
      title={t('alerts.schedules.title')}
      intro={t('alerts.schedules.intro')}
      actions={
        can('schedule.manage') && (
          <Link className="sp-button sp-primary" to="/alerts/schedules/new">
            {t('alerts.schedules.new')}
          </Link>
        )
      }
    >
      <ErrorNote error={list.error} />
      {list.data && (
        <DataTable
          caption={t('alerts.schedules.title')}
          rows={list.data.items}
          rowKey={(s) => s.id}
          empty={t('alerts.schedules.none')}
          columns={[
            {
              key: 'name',
              header: t('alerts.schedules.name'),
              cell: (s) => <Link to={`/alerts/schedules/${s.id}`}>{s.name}</Link>,
            },
            { key: 'zone', header: t('alerts.schedules.zone'), cell: (s) => s.timeZone },
            { key: 'layers', header: t('alerts.schedules.layers'), cell: (s) => s.layers.length },
            { key: 'updated', header: t('alerts.policies.updated'), cell: (s) => <When at={s.updatedAt} /> },
          ]}
        />
      )}
    </Page>
  );
}
