import { Navigate, NavLink, Route, Routes } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useSession } from '../../app/session';
import { AuditSearch } from './AuditSearch';
import { AuditEntry } from './AuditEntry';
import { Checkpoints } from './Checkpoints';
import { Disclosures } from './Disclosures';
import './audit.css';

/**
 * The audit screen: search (and export), one entry with its inclusion proof checked in this
 * browser, the signed checkpoints with their verification, and a patient's accounting of
 * disclosures. Read-only, apart from signing a checkpoint for those who hold audit.checkpoint.
 */
export default function AuditScreen() {
  const { t } = useTranslation();
  const { can } = useSession();
  const read = can('audit.read');
  const disclosures = can('disclosure.read');
  const tabs = [
    ...(read ? [{ to: 'search', label: t('audit.tabs.search') }] : []),
    ...(read ? [{ to: 'checkpoints', label: t('audit.tabs.checkpoints') }] : []),
    ...(disclosures ? [{ to: 'disclosures', label: t('audit.tabs.disclosures') }] : []),
  ];
  return (
    <div className="sp-audit">
      <nav className="sp-audit-tabs" aria-label={t('audit.tabs.label')}>
        <ul>
          {tabs.map((tab) => (
            <li key={tab.to}>
              <NavLink to={`/audit/${tab.to}`}>{tab.label}</NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <Routes>
        <Route index element={<Navigate to={tabs[0]?.to ?? 'search'} replace />} />
        {read && <Route path="search" element={<AuditSearch />} />}
        {read && <Route path="entries/:index" element={<AuditEntry />} />}
        {read && <Route path="checkpoints" element={<Checkpoints />} />}
        {disclosures && <Route path="disclosures" element={<Disclosures />} />}
        <Route path="*" element={<Navigate to="/audit" replace />} />
      </Routes>
    </div>
  );
}
