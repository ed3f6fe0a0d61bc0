import { useState } from 'react';
import { Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import { DataTable, Page, ProblemNote, useAsync, When } from '../../components/kit';
import { alerts, STATUSES, type Alert, type AlertStatus } from './privacy-api';
import { DetectorList, ScoreBadge, StatusBadge, Subject } from './parts';

/**
 * The privacy alerts as the API ranks them (open first, then investigating, then closed; by score
 * within each), filtered by status, with the monitor's progress above. Each opens on its own page.
 */
export function AlertsView() {
  const { t } = useTranslation();
  const [status, setStatus] = useState<AlertStatus | ''>('');
  const [more, setMore] = useState<Alert[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [moreError, setMoreError] = useState<unknown>(null);
  const list = useAsync(async () => {
    const page = await alerts.list(status || undefined);
    setMore([]);
    setNext(page.nextCursor);
    return page.items;
  }, [status]);
  const monitor = useAsync(() => alerts.status(), []);
  const loadMore = async () => {
    if (!next) return;
    setMoreError(null);
    try {
      const page = await alerts.list(status || undefined, next);
      setMore((m) => [...m, ...page.items]);
      setNext(page.nextCursor);
    } catch (e) {
      setMoreError(e);
    }
  };
  const rows = [...(list.data ?? []), ...more];
  const m = monitor.data;
  return (
    <Page
      title={t('privacy.alerts.title')}
      intro={t('privacy.alerts.intro')}
      actions={
        <button
          type="button"
          className="sp-button"
          onClick={() => {
            list.reload();
            monitor.reload();
          }}
        >
          {t('common.refresh')}
        </button>
      }
    >
      {m && (
        <p className="sp-intro" data-testid="privacy-monitor-status">
          {m.enabled
            ? t('privacy.monitor.on', { lag: m.lag, open: m.openAlerts })
            : t('privacy.monitor.off', { open: m.openAlerts })}{' '}
          {m.lastRunAt && (
            <>
              {t('privacy.monitor.lastRun')} <When at={m.lastRunAt} />
            </>
          )}
        </p>
      )}
      <ProblemNote error={monitor.error} />
      <div className="sp-form-row sp-privacy-filter">
        <div className="sp-field">
          <label htmlFor="privacy-status">{t('privacy.alerts.filter')}</label>
          <select id="privacy-status" value={status} onChange={(e) => setStatus(e.target.value as AlertStatus | '')}>
            <option value="">{t('privacy.alerts.all')}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(`privacy.status.${s}`)}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ProblemNote error={list.error} />
      {list.loading && !list.data ? (
        <p role="status">{t('app.loading')}</p>
      ) : (
        <DataTable<Alert>
          caption={t('privacy.alerts.caption')}
          rows={rows}
          rowKey={(a) => a.id}
          empty={t('privacy.alerts.none')}
          columns={[
            {
              key: 'score',
              header: t('privacy.fields.score'),
              cell: (a) => <ScoreBadge score={a.score} />,
            },
            {
              key: 'subject',
              header: t('privacy.fields.subject'),
              cell: (a) => (
                <Link to={`/privacy/alerts/${a.id}`}>
                  <Subject subject={a.subject} />
                </Link>
              ),
            },
            {
              key: 'detectors',
              header: t('privacy.fields.detectors'),
              cell: (a) => <DetectorList ids={a.detectors} />,
            },
            { key: 'status', header: t('privacy.fields.status'), cell: (a) => <StatusBadge alert={a} /> },
            { key: 'last', header: t('privacy.fields.lastAt'), cell: (a) => <When at={a.lastAt} /> },
          ]}
        />
      )}
      <ProblemNote error={moreError} />
      {next && (
        <div className="sp-actions">
          <button type="button" className="sp-button" onClick={() => void loadMore()}>
            {t('common.more')}
          </button>
        </div>
      )}
    </Page>
  );
}
