import { Navigate, NavLink, Route, Routes } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useSession } from '../../app/session';
import { AlertsView } from './AlertsView';
import { AlertDetailView } from './AlertDetailView';
import { SuppressionsView } from './SuppressionsView';
import { SensitiveView } from './SensitiveView';
import { ReportView } from './ReportView';
import './privacy.css';

/**
 * Privacy monitoring for privacy officers and administrators: the alerts the monitor raised from the
 * audit log (ranked, with their evidence, notes and lifecycle), suppression rules, sensitive-patient
 * flags and the breach investigation report. Changes need privacy.manage (reports privacy.report):
 * a read-only person sees the same pages without their actions. Paths carry opaque alert ids only.
 */
export default function PrivacyScreen() {
  const { t } = useTranslation();
  const { can } = useSession();
  const report = can('privacy.report');
  const tabs = [
    { to: 'alerts', label: t('privacy.tabs.alerts') },
    { to: 'suppressions', label: t('privacy.tabs.suppressions') },
    { to: 'sensitive', label: t('privacy.tabs.sensitive') },
    ...(report ? [{ to: 'report', label: t('privacy.tabs.report') }] : []),
  ];
  return (
    <div className="sp-privacy">
      <nav className="sp-privacy-tabs" aria-label={t('privacy.tabs.label')}>
        <ul>
          {tabs.map((tab) => (
            <li key={tab.to}>
              <NavLink to={`/privacy/${tab.to}`} end={tab.to !== 'alerts'}>
                {tab.label}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <Routes>
        <Route index element={<Navigate to="alerts" replace />} />
        <Route path="alerts" element={<AlertsView />} />
        <Route path="alerts/:id" element={<AlertDetailView />} />
        <Route path="suppressions" element={<SuppressionsView />} />
        <Route path="sensitive" element={<SensitiveView />} />
        {report && <Route path="report" element={<ReportView />} />}
        <Route path="*" element={<Navigate to="/privacy" replace />} />
      </Routes>
    </div>
  );
}
