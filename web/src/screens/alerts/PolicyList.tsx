import { Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { useSession } from '../../app/session';
import { Badge, DataTable, Page, useAsync, When } from '../../components/kit';
import { ErrorNote } from './common';
import type { Policy } from './policy-types';

/** Escalation policies of the tenant; the built-in one applies when none is the default. */
export function PolicyList() {
  const { t } = useTranslation();
  const { can } = useSession();
  const list = useAsync(
    () =>
      raw('GET', '/v1/escalation-policies?limit=500') as Promise<{ items: Policy[]; builtIn: { steps: unknown[] } }>,
    [],
  );
  const items = list.data?.items ?? [];
  return (
    <Page
      title={t('alerts.policies.title')}
      intro={t('alerts.policies.intro')}
      actions={
        can('alert.manage') && (
          <Link className="sp-button sp-primary" to="/alerts/policies/new">
            {t('alerts.policies.new')}
          </Link>
        )
      }
    >
      <ErrorNote error={list.error} />
      {list.data && !items.some((p) => p.isDefault) && <p>{t('alerts.policies.builtIn')}</p>}
      {list.data && (
        <DataTable
          caption={t('alerts.policies.title')}
          rows={items}
          rowKey={(p) => p.id}
          empty={t('alerts.policies.none')}
          columns={[
            {
              key: 'name',
              header: t('alerts.policies.name'),
              cell: (p) => <Link to={`/alerts/policies/${p.id}`}>{p.name}</Link>,
            },
            {
              key: 'default',
              header: t('alerts.policies.default'),
              cell: (p) => (p.isDefault ? <Badge tone="ok">{t('alerts.policies.isDefault')}</Badge> : '—'),
            },
            { key: 'steps', header: t('alerts.policies.steps'), cell: (p) => p.steps.length },
            { key: 'updated', header: t('alerts.policies.updated'), cell: (p) => <When at={p.updatedAt} /> },
          ]}
        />
      )}
    </Page>
  );
}
