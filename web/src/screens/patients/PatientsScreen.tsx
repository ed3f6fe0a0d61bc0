import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useSession } from '../../app/session';
import { Badge, Page } from '../../components/kit';
import { PatientLookup, type Found } from './PatientLookup';
import { ContactPoints } from './ContactPoints';
import { CareTeam } from './CareTeam';
import { ConsentsAndPreferences } from './ConsentsAndPreferences';
import { Erasure } from './Erasure';
import './patients.css';

/**
 * Patients: find one by identifier (typed here, sent in a request body, never in the URL), then the
 * parts this person's permissions open. Each part asks the API, which checks the relationship.
 */
export default function PatientsScreen() {
  const { t } = useTranslation();
  const { can } = useSession();
  const [found, setFound] = useState<Found | null>(null);
  const [erasedNow, setErasedNow] = useState(false);
  const erased = found?.erased || erasedNow;
  const pick = (f: Found | null) => {
    setFound(f);
    setErasedNow(false);
  };
  return (
    <Page title={t('patients.title')} intro={t('patients.intro')}>
      <section className="sp-patients" aria-labelledby="sp-patients-lookup">
        <h2 id="sp-patients-lookup">{t('patients.lookup.title')}</h2>
        <PatientLookup onFound={pick} />
      </section>
      {found && (
        <section className="sp-patients" aria-labelledby="sp-patients-found">
          <h2 id="sp-patients-found">
            {t('patients.patient')} <code>{found.patientId}</code>{' '}
            {erased && <Badge tone="warn">{t('patients.erased')}</Badge>}
          </h2>
          {!erased && can('patient.read') && <ContactPoints patientId={found.patientId} />}
          {!erased && can('careteam.manage') && <CareTeam patientId={found.patientId} />}
          {!erased && (can('consent.read') || can('patient.read')) && (
            <ConsentsAndPreferences patientId={found.patientId} />
          )}
          {can('patient.erase') && (
            <Erasure patientId={found.patientId} alreadyErased={!!found.erased} onErased={() => setErasedNow(true)} />
          )}
        </section>
      )}
    </Page>
  );
}
