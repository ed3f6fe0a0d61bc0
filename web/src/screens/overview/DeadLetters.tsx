import { useCallback, useEffect, useState } from 'react';
import { Button } from 'react-aria-components';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { useSession } from '../../app/session';
import { ConfirmButton, DataTable, ProblemNote, When } from '../../components/kit';
import type { DeadLetter } from './types';

/**
 * Deliveries with no channel left, newest first, a page at a time. Administrators (ops.manage) send
 * one again or close it; both are audited by the server, and the list is read again afterwards.
 */
export function DeadLetters({ version, onChanged }: { version: number; onChanged: () => void }) {
  const { t } = useTranslation();
  const { can } = useSession();
  const manage = can('ops.manage');
  const [items, setItems] = useState<DeadLetter[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');

  const load = useCallback(async (cursor?: string) => {
    try {
      const q = new URLSearchParams({ limit: '20', ...(cursor ? { cursor } : {}) });
      const page = await raw('GET', `/v1/ops/dead-letters?${q}`);
      setItems((old) => (cursor ? [...old, ...page.items] : page.items));
      setNext(page.nextCursor);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load, version]);

  const act = (d: DeadLetter, what: 'retry' | 'cancel') => async () => {
    await raw('POST', `/v1/ops/dead-letters/${encodeURIComponent(d.id)}/${what}`);
    setNotice(t(`overview.dead.${what}Done`, { id: d.id }));
    onChanged();
  };

  return (
    <section className="sp-card sp-overview-panel" aria-labelledby="sp-overview-dead">
      <h2 id="sp-overview-dead">{t('overview.dead.title')}</h2>
      <p className="sp-intro">{t('overview.dead.intro')}</p>
      <p role="status" className="sp-overview-notice">
        {notice}
      </p>
      <ProblemNote error={error} />
      <DataTable
        caption={t('overview.dead.title')}
        columns={[
          { key: 'id', header: t('overview.dead.delivery'), cell: (d) => <code>{d.id}</code> },
          { key: 'channel', header: t('overview.channelHeader'), cell: (d) => t(`overview.channel.${d.channel}`) },
          { key: 'code', header: t('overview.failures.code'), cell: (d) => <code>{d.errorCode ?? '—'}</code> },
          { key: 'attempts', header: t('overview.dead.attempts'), cell: (d) => d.attempts },
          { key: 'died', header: t('overview.dead.diedAt'), cell: (d) => <When at={d.diedAt} /> },
          ...(manage
            ? [
                {
                  key: 'actions',
                  header: t('overview.dead.actions'),
                  cell: (d: DeadLetter) => (
                    <div className="sp-actions sp-overview-row-actions">
                      <ConfirmButton
                        label={t('overview.dead.retry')}
                        title={t('overview.dead.retryTitle')}
                        body={t('overview.dead.retryBody', { channel: t(`overview.channel.${d.channel}`) })}
                        confirmLabel={t('overview.dead.retry')}
                        onConfirm={act(d, 'retry')}
                      />
                      <ConfirmButton
                        danger
                        label={t('overview.dead.cancel')}
                        title={t('overview.dead.cancelTitle')}
                        body={t('overview.dead.cancelBody')}
                        confirmLabel={t('overview.dead.cancel')}
                        onConfirm={act(d, 'cancel')}
                      />
                    </div>
                  ),
                },
              ]
            : []),
        ]}
        rows={items}
        rowKey={(d) => d.id}
        empty={t('overview.dead.empty')}
      />
      {next && (
        <Button className="sp-button" onPress={() => void load(next)}>
          {t('common.more')}
        </Button>
      )}
    </section>
  );
}
