import { useState } from 'react';
import { Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import { Badge, DataTable, Page, ProblemNote, useAsync, When, type Column } from '../../components/kit';
import { loadQueue, position, statusTone, type Hl7Message, type QueueStatus } from './hl7';
import { useSenderNames } from './useSenderNames';

/**
 * The HL7 error queue: messages that parsed but could not be applied (oldest first), or those
 * replayed or discarded. Ids, types, codes and positions only; each opens for replay or discard.
 */
export function Hl7Errors() {
  const { t } = useTranslation();
  const [status, setStatus] = useState<QueueStatus>('error');
  const [more, setMore] = useState<Hl7Message[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [moreError, setMoreError] = useState<unknown>(null);
  const names = useSenderNames();
  const first = useAsync(async () => {
    const page = await loadQueue(status);
    setMore([]);
    setCursor(page.nextCursor);
    return page.items;
  }, [status]);
  const rows = [...(first.data ?? []), ...more];

  const loadMore = async () => {
    if (!cursor) return;
    try {
      const page = await loadQueue(status, cursor);
      setMore((m) => [...m, ...page.items]);
      setCursor(page.nextCursor);
    } catch (e) {
      setMoreError(e);
    }
  };

  const columns: Column<Hl7Message>[] = [
    {
      key: 'id',
      header: t('integrations.errors.message'),
      cell: (m) => (
        <Link to={`/integrations/hl7-errors/${encodeURIComponent(m.id)}`} className="sp-integrations-id">
          {m.type} · {m.id.slice(-8)}
        </Link>
      ),
    },
    { key: 'received', header: t('integrations.errors.received'), cell: (m) => <When at={m.receivedAt} /> },
    { key: 'sender', header: t('integrations.errors.sender'), cell: (m) => names.get(m.senderId) ?? m.senderId },
    { key: 'code', header: t('integrations.errors.code'), cell: (m) => <code>{m.errorCode ?? '—'}</code> },
    { key: 'where', header: t('integrations.errors.where'), cell: (m) => position(m) },
    {
      key: 'status',
      header: t('integrations.errors.status'),
      cell: (m) => <Badge tone={statusTone(m.status)}>{t(`integrations.status.${m.status}`, m.status)}</Badge>,
    },
  ];

  return (
    <Page title={t('integrations.errors.title')} intro={t('integrations.errors.intro')}>
      <div className="sp-field">
        <label htmlFor="hl7-status">{t('integrations.errors.show')}</label>
        <select id="hl7-status" value={status} onChange={(e) => setStatus(e.target.value as QueueStatus)}>
          {(['error', 'replayed', 'discarded'] as const).map((s) => (
            <option key={s} value={s}>
              {t(`integrations.errors.filter.${s}`)}
            </option>
          ))}
        </select>
      </div>
      <ProblemNote error={first.error ?? moreError} />
      {first.loading && <p role="status">{t('app.loading')}</p>}
      {first.data && (
        <DataTable
          caption={t('integrations.errors.title')}
          columns={columns}
          rows={rows}
          rowKey={(m) => m.id}
          empty={t('integrations.errors.none')}
        />
      )}
      {cursor && (
        <div className="sp-actions">
          <button type="button" className="sp-button" onClick={() => void loadMore()}>
            {t('common.more')}
          </button>
        </div>
      )}
    </Page>
  );
}
