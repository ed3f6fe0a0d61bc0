import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { ProblemNote, useAsync } from '../../components/kit';
import { proof, type Proof } from './notification-api';

/**
 * The notification's signed proof (identifiers, hashes, its anchoring in the audit log) and, on an
 * explicit request, its content: the server checks the type and the patient relationship and
 * audits that read (the content is PHI; it stays on this page, in memory).
 */
export function NotificationProof({ id }: { id: string }) {
  const { t } = useTranslation();
  const p = useAsync(() => proof(id), [id]);
  const [content, setContent] = useState<Proof['content'] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const anchor = p.data?.anchor;
  const show = async () => {
    setError(null);
    try {
      setContent((await proof(id, true)).content ?? null);
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section aria-labelledby="sp-notif-proof">
      <h2 id="sp-notif-proof">{t('notifications.proof')}</h2>
      <ProblemNote error={p.error} />
      {p.data && (
        <dl className="sp-notifications-facts">
          <dt>{t('notifications.signedBy')}</dt>
          <dd>
            <code>{p.data.keyId}</code>
          </dd>
          <dt>{t('notifications.anchor')}</dt>
          <dd>
            {anchor?.status === 'anchored'
              ? t('notifications.anchored', { index: anchor.index, size: anchor.treeSize })
              : t('notifications.anchorPending')}
          </dd>
        </dl>
      )}
      <h3>{t('notifications.content')}</h3>
      {content ? (
        <dl className="sp-notifications-facts sp-notifications-content">
          {Object.entries(content.data).map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
            </div>
          ))}
        </dl>
      ) : (
        <>
          <p>{t('notifications.contentHint')}</p>
          <button type="button" className="sp-button" onClick={() => void show()}>
            {t('notifications.showContent')}
          </button>
        </>
      )}
      <ProblemNote error={error} />
    </section>
  );
}
