import { NavLink, Navigate, Route, Routes } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useSession } from '../../app/session';
import { UsersView } from './UsersView';
import { UserDetail } from './UserDetail';
import { ApiKeysView } from './ApiKeysView';
import { ClientsView } from './ClientsView';
import { BreakGlassView } from './BreakGlassView';
import './people.css';

/**
 * People and access: a sub-navigation of the views this person's permissions open (the server
 * refuses the others anyway) and their routes. Paths carry opaque ids only, never a name or address.
 */
export default function PeopleScreen() {
  const { t } = useTranslation();
  const { can } = useSession();
  const views = [
    can('user.manage') && { to: 'users', label: t('people.tabs.users') },
    can('apikey.manage') && { to: 'api-keys', label: t('people.tabs.keys') },
    can('client.manage') && { to: 'clients', label: t('people.tabs.clients') },
    can('securityalert.read') && { to: 'break-glass', label: t('people.tabs.breakGlass') },
  ].filter(Boolean) as { to: string; label: string }[];
  return (
    <div className="sp-people">
      <nav className="sp-people-tabs" aria-label={t('people.tabs.label')}>
        <ul>
          {views.map((v) => (
            <li key={v.to}>
              <NavLink to={`/people/${v.to}`}>{v.label}</NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <Routes>
        <Route index element={views[0] ? <Navigate to={views[0].to} replace /> : null} />
        {can('user.manage') && <Route path="users" element={<UsersView />} />}
        {can('user.manage') && <Route path="users/:id" element={<UserDetail />} />}
        {can('apikey.manage') && <Route path="api-keys" element={<ApiKeysView />} />}
        {can('client.manage') && <Route path="clients" element={<ClientsView />} />}
        {can('securityalert.read') && <Route path="break-glass" element={<BreakGlassView />} />}
        <Route path="*" element={<Navigate to="/people" replace />} />
      </Routes>
    </div>
  );
}
