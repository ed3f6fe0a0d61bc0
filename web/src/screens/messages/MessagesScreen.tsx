import { Route, Routes } from 'react-router';
import { useTranslation } from 'react-i18next';
import { ConfirmButton, Badge, Page, ProblemNote } from '../../components/kit';
import { useSession } from '../../app/session';
import { useMessaging } from './useMessaging';
import { ConversationList } from './ConversationList';
import { ConversationView } from './ConversationView';
import { asProblem } from './problem';
import './messages.css';

/**
 * Messages: this browser becomes one messaging device of the signed-in person (on their request),
 * then lists, opens and answers their end-to-end encrypted conversations through the SDK. Everything
 * is encrypted and decrypted here; the server stores and forwards ciphertext only.
 */
export default function MessagesScreen() {
  const { t } = useTranslation();
  const { me } = useSession();
  const m = useMessaging(me);

  const status =
    m.phase === 'ready' ? (
      <Badge tone={m.live ? 'ok' : 'warn'}>{m.live ? t('messages.live') : t('messages.polling')}</Badge>
    ) : null;

  if (m.phase !== 'ready' || !m.client || !m.store)
    return (
      <Page title={t('messages.title')} intro={t('messages.intro')}>
        {(m.phase === 'opening' || m.phase === 'registering') && (
          <p role="status" className="sp-loading">
            {m.phase === 'opening' ? t('messages.opening') : t('messages.registering')}
          </p>
        )}
        {(m.phase === 'unregistered' || m.phase === 'registering') && (
          <div className="sp-messages-setup">
            <h2>{t('messages.setupTitle')}</h2>
            <p>{t('messages.setupBody')}</p>
            <button
              type="button"
              className="sp-button sp-primary"
              disabled={m.phase === 'registering'}
              onClick={() => void m.register()}
            >
              {t('messages.setupAction')}
            </button>
          </div>
        )}
        <ProblemNote error={m.error} />
      </Page>
    );

  return (
    <Routes>
      <Route
        index
        element={
          <Page title={t('messages.title')} intro={t('messages.keysHere')} actions={status}>
            <ConversationList m={m} me={me} />
            <div className="sp-messages-forget">
              <ConfirmButton
                danger
                label={t('messages.forget')}
                title={t('messages.forgetTitle')}
                body={t('messages.forgetBody')}
                confirmLabel={t('messages.forget')}
                onConfirm={() => m.forget().catch((e) => Promise.reject(asProblem(e)))}
              />
            </div>
          </Page>
        }
      />
      <Route path=":id" element={<ConversationView m={m} me={me} status={status} />} />
    </Routes>
  );
}
