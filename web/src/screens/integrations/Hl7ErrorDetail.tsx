import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { api, ok } from '../../app/api';
import { ConfirmButton, Badge, Page, ProblemNote, useAsync, When } from '../../components/kit';
import { loadMessage, position, statusTone } from './hl7';
import { useSenderNames } from './useSenderNames';

/**
 * One queued HL7 message: sender, type, keyed hash of its control id, status, the error (Sealpost
 * and HL7 codes, the segment and field), never its content. Replay re-applies it (older queued
 * messages of the same sender and patient first); discard deletes its sealed content.
 */
export function Hl7ErrorDetail() {
  const { t } = useTranslation();
  const id = useParams().id ?? '';
  const names = useSenderNames();
  const msg = useAsync(() => loadMessage(id), [id]);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState('');
  const [busy, setBusy] = useState(false);
  const m = msg.data;

  const replay = async () => {
    setBusy(true);
    setError(null);
    setDone('');
    try {
      const r = await ok(api.POST('/v1/hl7/errors/{id}/replay', { params: { path: { id } } }));
      setDone(
        r.status === 'replayed'
          ? t('integrations.detail.replayed')
          : t('integrations.detail.stillFailing', { code: r.errorCode ?? '?' }),
      );
      msg.reload();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title={t('integrations.detail.title')} intro={t('integrations.detail.intro')}>
      <p>
        <Link to="/integrations/hl7-errors">{t('integrations.detail.back')}</Link>
      </p>
      <ProblemNote error={msg.error} />
      {m && (
        <>
          <dl className="sp-integrations-facts">
            <dt>{t('integrations.errors.status')}</dt>
            <dd>
              <Badge tone={statusTone(m.status)}>
                <span data-testid="hl7-status">{t(`integrations.status.${m.status}`, m.status)}</span>
              </Badge>
            </dd>
            <dt>{t('integrations.detail.type')}</dt>
            <dd>{m.type}</dd>
            <dt>{t('integrations.errors.sender')}</dt>
            <dd>{names.get(m.senderId) ?? m.senderId}</dd>
            <dt>{t('integrations.errors.code')}</dt>
            <dd>
              <code data-testid="hl7-error-code">{m.errorCode ?? '—'}</code>
            </dd>
            <dt>{t('integrations.detail.hl7Code')}</dt>
            <dd>{m.hl7ErrorCode ?? '—'}</dd>
            <dt>{t('integrations.errors.where')}</dt>
            <dd>{position(m)}</dd>
            <dt>{t('integrations.detail.ack')}</dt>
            <dd>{m.ackCode}</dd>
            <dt>{t('integrations.detail.controlId')}</dt>
            <dd className="sp-integrations-id">{m.controlId}</dd>
            <dt>{t('integrations.errors.received')}</dt>
            <dd>
              <When at={m.receivedAt} />
            </dd>
            <dt>{t('integrations.detail.updated')}</dt>
            <dd>
              <When at={m.updatedAt} />
            </dd>
            <dt>{t('integrations.detail.id')}</dt>
            <dd className="sp-integrations-id">{m.id}</dd>
          </dl>
          <p className="sp-intro">{t('integrations.detail.noContent')}</p>
          {m.status === 'error' && (
            <div className="sp-actions">
              <button type="button" className="sp-button sp-primary" disabled={busy} onClick={() => void replay()}>
                {t('integrations.detail.replay')}
              </button>
              <ConfirmButton
                danger
                label={t('integrations.detail.discard')}
                title={t('integrations.detail.discardTitle')}
                body={t('integrations.detail.discardBody')}
                isDisabled={busy}
                onConfirm={async () => {
                  await ok(api.POST('/v1/hl7/errors/{id}/discard', { params: { path: { id } } }));
                  setDone(t('integrations.detail.discarded'));
                  msg.reload();
                }}
              />
            </div>
          )}
          <ProblemNote error={error} />
          {done && <p role="status">{done}</p>}
        </>
      )}
    </Page>
  );
}
