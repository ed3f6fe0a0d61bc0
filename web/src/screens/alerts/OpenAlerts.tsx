import { useState } from 'react';
import { Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { Badge, DataTable, Page, useAsync, When } from '../../components/kit';
import { ErrorNote, tone } from './common';

export interface AlertRow {
  id: string;
  priority: string;
  target: string;
  patientId: string | null;
  summary: string;
  source: string | null;
  state: string;
  step: number;
  count: number;
  policyId: string | null;
  createdAt: string;
  lastTriggeredAt: string;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  closedAt: string | null;
  closedBy: string | null;
}

/** Open alerts (PHI-free summaries; the API decides who sees more), newest first, or every alert. */
export function OpenAlerts() {
  const { t } = useTranslation();
  const [all, setAll] = useState(false);
  const [pages, setPages] = useState<AlertRow[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const list = useAsync(async () => {
    const r = await raw('GET', `/v1/alerts?limit=50${all ? '' : '&open=true'}`);
    setPages([]);
    setCursor(r.nextCursor);
    return r.items as AlertRow[];
  }, [all]);
  const more = async () => {
    const r = await raw('GET', `/v1/alerts?limit=50${all ? '' : '&open=true'}&cursor=${encodeURIComponent(cursor!)}`);
    setPages((p) => [...p, ...r.items]);
    setCursor(r.nextCursor);
  };
  const rows = [...(list.data ?? []), ...pages];
  return (
    <Page
      title={t('alerts.open.title')}
      intro={t('alerts.open.intro')}
      actions={
        <>
          <label className="sp-alerts-inline">
            <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} />
            {t('alerts.open.showClosed')}
          </label>
          <button type="button" className="sp-button" onClick={list.reload}>
            {t('common.refresh')}
          </button>
        </>
      }
    >
      <ErrorNote error={list.error} />
      {list.loading && !list.data ? (
        <p className="sp-loading">{t('app.loading')}</p>
      ) : (
        <DataTable
          caption={t('alerts.open.title')}
          rows={rows}
          rowKey={(a) => a.id}
          empty={t('alerts.open.none')}
          columns={[
            {
              key: 'summary',
              header: t('alerts.fields.summary'),
              cell: (a) => <Link to={`/alerts/open/${a.id}`}>{a.summary}</Link>,
            },
            {
              key: 'priority',
              header: t('alerts.fields.priority'),
              cell: (a) => (
                <Badge tone={a.priority === 'high' ? 'bad' : a.priority === 'medium' ? 'warn' : 'neutral'}>
                  {t(`alerts.priority.${a.priority}`)}
                </Badge>
              ),
            },
            {
              key: 'state',
              header: t('alerts.fields.state'),
              cell: (a) => <Badge tone={tone(a.state)}>{t(`alerts.state.${a.state}`)}</Badge>,
            },
            { key: 'target', header: t('alerts.fields.target'), cell: (a) => <code>{a.target}</code> },
            { key: 'count', header: t('alerts.fields.count'), cell: (a) => a.count },
            { key: 'raised', header: t('alerts.fields.raised'), cell: (a) => <When at={a.lastTriggeredAt} /> },
          ]}
        />
      )}
      {cursor && (
        <button type="button" className="sp-button" onClick={() => void more()}>
          {t('common.more')}
        </button>
      )}
    </Page>
  );
}
