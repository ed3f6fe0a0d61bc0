import { useTranslation } from 'react-i18next';
import { Badge, DataTable } from '../../components/kit';
import type { Stats } from './types';

const TONE: Record<string, 'neutral' | 'ok' | 'warn' | 'bad'> = {
  idle: 'neutral',
  ok: 'ok',
  degraded: 'warn',
  failing: 'bad',
};

/** Failures (failed over or dead) in the window by error code and channel. */
export function FailuresPanel({ failures }: { failures: Stats['failures'] }) {
  const { t } = useTranslation();
  return (
    <section className="sp-card sp-overview-panel" aria-labelledby="sp-overview-failures">
      <h2 id="sp-overview-failures">{t('overview.failures.title')}</h2>
      <DataTable
        caption={t('overview.failures.title')}
        columns={[
          { key: 'code', header: t('overview.failures.code'), cell: (r) => <code>{r.code ?? '—'}</code> },
          { key: 'channel', header: t('overview.channelHeader'), cell: (r) => t(`overview.channel.${r.channel}`) },
          { key: 'status', header: t('overview.statusHeader'), cell: (r) => t(`overview.status.${r.status}`) },
          { key: 'n', header: t('overview.failures.count'), cell: (r) => r.n },
        ]}
        rows={failures}
        rowKey={(r) => `${r.code}/${r.channel}/${r.status}`}
        empty={t('overview.failures.empty')}
      />
    </section>
  );
}

/** Each patient channel's provider, whether it is live, and how its last hour went. */
export function ProvidersPanel({ providers }: { providers: Stats['providers'] }) {
  const { t } = useTranslation();
  return (
    <section className="sp-card" aria-labelledby="sp-overview-providers">
      <h2 id="sp-overview-providers">{t('overview.providers.title')}</h2>
      <p className="sp-intro">
        {t('overview.providers.intro')} {t('overview.providers.devOutbox')}
      </p>
      <DataTable
        caption={t('overview.providers.title')}
        columns={[
          { key: 'channel', header: t('overview.channelHeader'), cell: (r) => t(`overview.channel.${r.channel}`) },
          {
            key: 'provider',
            header: t('overview.providers.provider'),
            cell: (r) => <code>{r.mode === 'dev-outbox' ? 'dev-outbox' : r.provider}</code>,
          },
          {
            key: 'health',
            header: t('overview.providers.health'),
            cell: (r) => <Badge tone={TONE[r.health]}>{t(`overview.providers.state.${r.health}`)}</Badge>,
          },
          { key: 'ok', header: t('overview.providers.succeeded'), cell: (r) => r.succeeded },
          { key: 'failed', header: t('overview.providers.failed'), cell: (r) => r.failed },
          { key: 'code', header: t('overview.providers.topError'), cell: (r) => <code>{r.topErrorCode ?? '—'}</code> },
        ]}
        rows={providers}
        rowKey={(r) => r.channel}
      />
    </section>
  );
}
