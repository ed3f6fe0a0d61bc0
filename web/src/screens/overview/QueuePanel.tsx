import { useTranslation } from 'react-i18next';
import { Badge, DataTable, When } from '../../components/kit';
import type { Stats } from './types';

/** How much waits, how long the oldest due delivery has waited, per channel. */
export function QueuePanel({ queue }: { queue: Stats['queue'] }) {
  const { t } = useTranslation();
  const lag = queue.lagSeconds;
  const tone = lag > 300 ? 'bad' : lag > 60 ? 'warn' : 'ok';
  return (
    <section className="sp-card" aria-labelledby="sp-overview-queue">
      <h2 id="sp-overview-queue">{t('overview.queue.title')}</h2>
      <dl className="sp-overview-figures">
        <div>
          <dt>{t('overview.queue.due')}</dt>
          <dd data-testid="queue-due">{queue.due}</dd>
        </div>
        <div>
          <dt>{t('overview.queue.scheduled')}</dt>
          <dd data-testid="queue-scheduled">{queue.scheduled}</dd>
        </div>
        <div>
          <dt>{t('overview.queue.sending')}</dt>
          <dd>{queue.sending}</dd>
        </div>
        <div>
          <dt>{t('overview.queue.lag')}</dt>
          <dd>
            <Badge tone={tone}>{t('overview.queue.seconds', { count: lag })}</Badge>
          </dd>
        </div>
      </dl>
      {queue.oldestDueAt && (
        <p>
          {t('overview.queue.oldest')} <When at={queue.oldestDueAt} />
        </p>
      )}
      <DataTable
        caption={t('overview.queue.byChannel')}
        columns={[
          { key: 'channel', header: t('overview.channelHeader'), cell: (r) => t(`overview.channel.${r.channel}`) },
          { key: 'due', header: t('overview.queue.due'), cell: (r) => r.due },
          { key: 'scheduled', header: t('overview.queue.scheduled'), cell: (r) => r.scheduled },
          { key: 'sending', header: t('overview.queue.sending'), cell: (r) => r.sending },
        ]}
        rows={queue.byChannel}
        rowKey={(r) => r.channel}
        empty={t('overview.queue.empty')}
      />
    </section>
  );
}
