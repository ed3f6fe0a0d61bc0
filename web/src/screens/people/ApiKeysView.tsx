import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Badge, ConfirmButton, DataTable, Page, ProblemNote, useAsync, When } from '../../components/kit';
import { apiKeys, type ApiKey } from './people-api';
import { OneTimeSecret } from './OneTimeSecret';
import { ApiKeyForm } from './ApiKeyForm';

const keyState = (k: ApiKey, now: number) =>
  k.revokedAt ? 'revoked' : k.expiresAt && Date.parse(k.expiresAt) <= now ? 'expired' : 'active';

/** API keys of system clients: create (the key shown once), rotate, revoke, and when each was last used. */
export function ApiKeysView() {
  const { t } = useTranslation();
  const list = useAsync(() => apiKeys.list(), []);
  const [secret, setSecret] = useState<{ name: string; key: string } | null>(null);
  const now = Date.now();
  return (
    <Page title={t('people.keys.title')} intro={t('people.keys.intro')}>
      {secret ? (
        <OneTimeSecret
          label={t('people.keys.secret', { name: secret.name })}
          value={secret.key}
          hint={t('people.keys.secretHint')}
          onDone={() => setSecret(null)}
        />
      ) : (
        <ApiKeyForm
          onCreated={(name, key) => {
            setSecret({ name, key });
            list.reload();
          }}
        />
      )}
      <h2>{t('people.keys.listTitle')}</h2>
      <ProblemNote error={list.error} />
      <DataTable<ApiKey>
        caption={t('people.keys.listTitle')}
        rows={list.data ?? []}
        rowKey={(k) => k.id}
        empty={t('people.keys.none')}
        columns={[
          {
            key: 'name',
            header: t('people.keys.name'),
            cell: (k) => (
              <>
                {k.name} <code className="sp-people-id">{k.id}</code>
              </>
            ),
          },
          {
            key: 'scopes',
            header: t('people.keys.scopes'),
            cell: (k) => (k.scopes.length ? k.scopes.join(', ') : t('people.keys.integration')),
          },
          {
            key: 'state',
            header: t('people.keys.state'),
            cell: (k) => {
              const s = keyState(k, now);
              return <Badge tone={s === 'active' ? 'ok' : 'bad'}>{t(`people.keys.states.${s}`)}</Badge>;
            },
          },
          { key: 'used', header: t('people.keys.lastUsed'), cell: (k) => <When at={k.lastUsedAt} /> },
          { key: 'expires', header: t('people.keys.expires'), cell: (k) => <When at={k.expiresAt} /> },
          {
            key: 'actions',
            header: t('people.keys.actions'),
            cell: (k) =>
              keyState(k, now) !== 'active' ? null : (
                <div className="sp-actions">
                  <ConfirmButton
                    label={t('people.keys.rotate')}
                    title={t('people.keys.rotate')}
                    body={t('people.keys.rotateBody', { name: k.name })}
                    onConfirm={async () => {
                      const r = await apiKeys.rotate(k.id, 24);
                      setSecret({ name: r.apiKey.name, key: r.key });
                      list.reload();
                    }}
                  />
                  <ConfirmButton
                    danger
                    label={t('people.keys.revoke')}
                    title={t('people.keys.revoke')}
                    body={t('people.keys.revokeBody', { name: k.name })}
                    onConfirm={async () => {
                      await apiKeys.revoke(k.id);
                      list.reload();
                    }}
                  />
                </div>
              ),
          },
        ]}
      />
    </Page>
  );
}
