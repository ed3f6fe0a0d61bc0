import { useCallback, useState } from 'react';
import { Button } from 'react-aria-components';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { Page, ProblemNote, useAsync, When } from '../../components/kit';
import { ActivityChart } from './ActivityChart';
import { DeadLetters } from './DeadLetters';
import { FailuresPanel, ProvidersPanel } from './HealthPanels';
import { QueuePanel } from './QueuePanel';
import { useVisibleInterval } from './useVisibleInterval';
import { CHANNELS, STATUSES, type OpsWindow, type Stats } from './types';
import './overview.css';

const REFRESH_MS = 30_000;
const WINDOWS: OpsWindow[] = ['hour', 'day', 'week'];
const STATUS_COLOURS: Record<string, string> = {
  scheduled: '#6b7280',
  queued: '#8a5300',
  sending: '#c2410c',
  sent: '#0b5cad',
  delivered: '#146c2e',
  read: '#5b3f9e',
  failed: '#d97706',
  dead: '#b3261e',
  cancelled: '#374151',
  suppressed: '#9ca3af',
};
const CHANNEL_COLOURS: Record<string, string> = {
  sms: '#0b5cad',
  email: '#146c2e',
  webhook: '#8a5300',
  push: '#5b3f9e',
};

/**
 * The operations overview of the tenant's deliveries (PHI-free): activity by status and channel
 * over the last hour, day or week, the queue and its lag, failures by code, provider health and
 * the dead letters. Read again every 30 seconds while the page is visible.
 */
export default function OverviewScreen() {
  const { t } = useTranslation();
  const [window, setWindow] = useState<OpsWindow>('day');
  const [version, setVersion] = useState(0);
  const stats = useAsync<Stats>(() => raw('GET', `/v1/ops/deliveries/stats?window=${window}`), [window, version]);
  const refresh = useCallback(() => setVersion((v) => v + 1), []);
  useVisibleInterval(refresh, REFRESH_MS);
  const s = stats.data;

  return (
    <Page
      title={t('overview.title')}
      intro={t('overview.intro')}
      actions={
        <Button className="sp-button" onPress={refresh}>
          {t('common.refresh')}
        </Button>
      }
    >
      <div className="sp-overview-windows" role="group" aria-label={t('overview.window.label')}>
        {WINDOWS.map((w) => (
          <button
            key={w}
            type="button"
            className={`sp-button${w === window ? ' sp-primary' : ''}`}
            aria-pressed={w === window}
            onClick={() => setWindow(w)}
          >
            {t(`overview.window.${w}`)}
          </button>
        ))}
      </div>
      <ProblemNote error={stats.error} />
      {s && (
        <>
          <p className="sp-overview-updated">
            {t('overview.updated')} <When at={s.generatedAt} />
          </p>
          <section aria-labelledby="sp-overview-activity">
            <h2 id="sp-overview-activity">{t('overview.activity', { window: t(`overview.window.${s.window}`) })}</h2>
            <div className="sp-overview-grid">
              <ActivityChart
                stats={s}
                by="status"
                keys={STATUSES}
                colours={STATUS_COLOURS}
                title={t('overview.chart.byStatus')}
                nameOf={(k) => t(`overview.status.${k}`)}
              />
              <ActivityChart
                stats={s}
                by="channel"
                keys={CHANNELS}
                colours={CHANNEL_COLOURS}
                title={t('overview.chart.byChannel')}
                nameOf={(k) => t(`overview.channel.${k}`)}
              />
            </div>
          </section>
          <div className="sp-overview-grid">
            <QueuePanel queue={s.queue} />
            <FailuresPanel failures={s.failures} />
          </div>
          <ProvidersPanel providers={s.providers} />
        </>
      )}
      <DeadLetters version={version} onChanged={refresh} />
    </Page>
  );
}
