import { useTranslation } from 'react-i18next';
import { Badge, ConfirmButton, DataTable, Page, ProblemNote, useAsync, When } from '../../components/kit';
import { clients, type Client } from './people-api';
import { ClientForm } from './ClientForm';

/**
 * SMART backend-services clients: register (public keys or a JWKS URL, system scopes), revoke, and
 * when each last obtained a token. Rotating a client's keys is done where its keys are published
 * (a JWKS URL is re-read) or by registering a new client and revoking the old one.
 */
export function ClientsView() {
  const { t } = useTranslation();
  const list = useAsync(() => clients.list(), []);
  return (
    <Page title={t('people.clients.title')} intro={t('people.clients.intro')}>
      <ClientForm onCreated={list.reload} />
      <h2>{t('people.clients.listTitle')}</h2>
      <ProblemNote error={list.error} />
      <DataTable<Client>
        caption={t('people.clients.listTitle')}
        rows={list.data ?? []}
        rowKey={(c) => c.clientId}
        empty={t('people.clients.none')}
        columns={[
          { key: 'name', header: t('people.clients.name'), cell: (c) => c.name },
          {
            key: 'id',
            header: t('people.clients.clientId'),
            cell: (c) => <code className="sp-people-id">{c.clientId}</code>,
          },
          { key: 'scopes', header: t('people.clients.scopes'), cell: (c) => c.scopes.join(' ') },
          {
            key: 'keys',
            header: t('people.clients.keys'),
            cell: (c) => c.jwksUrl ?? t('people.clients.inlineKeys', { count: c.jwks?.keys.length ?? 0 }),
          },
          {
            key: 'state',
            header: t('people.keys.state'),
            cell: (c) =>
              c.revokedAt ? (
                <Badge tone="bad">{t('people.keys.states.revoked')}</Badge>
              ) : (
                <Badge tone="ok">{t('people.keys.states.active')}</Badge>
              ),
          },
          { key: 'used', header: t('people.keys.lastUsed'), cell: (c) => <When at={c.lastUsedAt} /> },
          {
            key: 'actions',
            header: t('people.keys.actions'),
            cell: (c) =>
              c.revokedAt ? null : (
                <ConfirmButton
                  danger
                  label={t('people.keys.revoke')}
                  title={t('people.keys.revoke')}
                  body={t('people.clients.revokeBody', { name: c.name })}
                  onConfirm={async () => {
                    await clients.revoke(c.clientId);
                    list.reload();
                  }}
                />
              ),
          },
        ]}
      />
    </Page>
  );
}
