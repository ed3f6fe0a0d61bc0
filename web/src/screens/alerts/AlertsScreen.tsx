import { NavLink, Navigate, Route, Routes } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useSession } from '../../app/session';
import { OpenAlerts } from './OpenAlerts';
import { AlertDetail } from './AlertDetail';
import { PolicyList } from './PolicyList';
import { PolicyEditor } from './PolicyEditor';
import { ScheduleList } from './ScheduleList';
import { ScheduleView } from './ScheduleView';
import { ScheduleEditor } from './ScheduleEditor';
import { Devices } from './Devices';
import { Units } from './Units';
import { Contacts } from './Contacts';
import './alerts.css';

/**
 * The alerts screen's frame: a sub-navigation of the views this person's permissions open (the
 * server refuses the others anyway) and their routes. Paths carry opaque ids only.
 */
export default function AlertsScreen() {
  const { t } = useTranslation();
  const { can } = useSession();
  const views = [
    can('alert.read') && { to: 'open', label: t('alerts.tabs.open') },
    can('alert.read') && { to: 'policies', label: t('alerts.tabs.policies') },
    can('schedule.read') && { to: 'schedules', label: t('alerts.tabs.schedules') },
    can('alert.read') && { to: 'units', label: t('alerts.tabs.units') },
    (can('alert.manage') || can('user.manage')) && { to: 'contacts', label: t('alerts.tabs.contacts') },
    can('device.manage') && { to: 'devices', label: t('alerts.tabs.devices') },
  ].filter(Boolean) as { to: string; label: string }[];
  return (
    <div className="sp-alerts">
      <nav className="sp-alerts-tabs" aria-label={t('alerts.tabs.label')}>
        <ul>
          {views.map((v) => (
            <li key={v.to}>
              <NavLink to={`/alerts/${v.to}`}>{v.label}</NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <Routes>
        <Route index element={views[0] ? <Navigate to={views[0].to} replace /> : null} />
        {can('alert.read') && (
          <>
            <Route path="open" element={<OpenAlerts />} />
            <Route path="open/:id" element={<AlertDetail />} />
            <Route path="policies" element={<PolicyList />} />
            {can('alert.manage') && <Route path="policies/new" element={<PolicyEditor />} />}
            <Route path="policies/:id" element={<PolicyEditor />} />
            <Route path="units" element={<Units />} />
          </>
        )}
        {can('schedule.read') && (
          <>
            <Route path="schedules" element={<ScheduleList />} />
            {can('schedule.manage') && <Route path="schedules/new" element={<ScheduleEditor />} />}
            {can('schedule.manage') && <Route path="schedules/:id/edit" element={<ScheduleEditor />} />}
            <Route path="schedules/:id" element={<ScheduleView />} />
          </>
        )}
        {(can('alert.manage') || can('user.manage')) && <Route path="contacts" element={<Contacts />} />}
        {can('device.manage') && <Route path="devices" element={<Devices />} />}
        <Route path="*" element={<Navigate to="/alerts" replace />} />
      </Routes>
    </div>
  );
}
