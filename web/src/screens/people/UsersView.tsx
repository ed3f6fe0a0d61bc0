import { Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import { DataTable, Page, ProblemNote, useAsync } from '../../components/kit';
import { users, type User } from './people-api';
import { InviteForm } from './InviteForm';
import { StatusBadge } from './RolePicker';

/** The tenant's staff: who they are, their roles and status; invite someone new. */
export function UsersView() {
  const { t } = useTranslation();
  const list = useAsync(() => users.list(), []);
  return (
    <Page title={t('people.users.title')} intro={t('people.users.intro')}>
      <InviteForm onInvited={list.reload} />
      <h2>{t('people.users.listTitle')}</h2>
      <ProblemNote error={list.error} />
      {list.loading && !list.data ? (
        <p className="sp-loading" role="status">
          {t('app.loading')}
        </p>
      ) : (
        <DataTable<User>
          caption={t('people.users.listTitle')}
          rows={list.data ?? []}
          rowKey={(u) => u.id}
          columns={[
            {
              key: 'name',
              header: t('people.users.name'),
              cell: (u) => <Link to={`/people/users/${u.id}`}>{u.displayName}</Link>,
            },
            { key: 'email', header: t('people.users.email'), cell: (u) => u.email },
            {
              key: 'roles',
              header: t('people.users.roles'),
              cell: (u) => u.roles.map((r) => t(`people.roles.${r}`)).join(', '),
            },
            { key: 'status', header: t('people.users.status'), cell: (u) => <StatusBadge status={u.status} /> },
          ]}
        />
      )}
    </Page>
  );
}
