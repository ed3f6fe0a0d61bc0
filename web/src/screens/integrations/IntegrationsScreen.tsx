import { Navigate, NavLink, Route, Routes } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useSession } from '../../app/session';
import { Hl7Senders } from './Hl7Senders';
import { Hl7Errors } from './Hl7Errors';
import { Hl7ErrorDetail } from './Hl7ErrorDetail';
import { Subscriptions } from './Subscriptions';
import './integrations.css';

/**
 * Integrations: HL7 v2 senders and the error queue (hl7.manage), FHIR Subscriptions and how they
 * are delivered (subscription.manage). Only ids, types, codes and positions: an HL7 message's
 * content is never shown (the API does not return it).
 */
export default function IntegrationsScreen() {
  const { t } = useTranslation();
  const { can } = useSession();
  const hl7 = can('hl7.manage');
  const subs = can('subscription.manage');
  const tabs = [
    ...(hl7 ? [{ to: 'hl7-errors', label: t('integrations.tabs.errors') }] : []),
    ...(hl7 ? [{ to: 'hl7-senders', label: t('integrations.tabs.senders') }] : []),
    ...(subs ? [{ to: 'subscriptions', label: t('integrations.tabs.subscriptions') }] : []),
  ];
  return (
    <div className="sp-integrations">
      <nav className="sp-integrations-tabs" aria-label={t('integrations.tabs.label')}>
        <ul>
          {tabs.map((tab) => (
            <li key={tab.to}>
              <NavLink to={`/integrations/${tab.to}`}>{tab.label}</NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <Routes>
        <Route index element={<Navigate to={tabs[0]?.to ?? 'subscriptions'} replace />} />
        {hl7 && <Route path="hl7-errors" element={<Hl7Errors />} />}
        {hl7 && <Route path="hl7-errors/:id" element={<Hl7ErrorDetail />} />}
        {hl7 && <Route path="hl7-senders" element={<Hl7Senders />} />}
        {subs && <Route path="subscriptions" element={<Subscriptions />} />}
        <Route path="*" element={<Navigate to="/integrations" replace />} />
      </Routes>
    </div>
  );
}
