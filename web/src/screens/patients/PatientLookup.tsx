import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { ProblemNote } from '../../components/kit';
import { TextInput } from './TextInput';

export interface Found {
  patientId: string;
  erased: boolean;
}

/** The identifier system last used on this page (kept in memory only: never the URL or storage). */
let lastSystem = '';

/**
 * Finds a patient by an identifier (an MRN…) typed by the person: the identifier goes to the API in
 * a request body (POST /v1/patients/lookup, audited) and stays in this component's state; only the
 * opaque patient id it resolves to is handed on.
 */
export function PatientLookup({ onFound, compact }: { onFound: (f: Found | null) => void; compact?: boolean }) {
  const { t } = useTranslation();
  const [system, setSystem] = useState(lastSystem);
  const [value, setValue] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      lastSystem = system;
      onFound((await raw('POST', '/v1/patients/lookup', { system: system.trim(), value: value.trim() })) as Found);
      setValue(''); // found: the identifier has done its work and leaves the screen
    } catch (err) {
      setError(err);
      onFound(null);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} className="sp-patients-lookup" aria-label={t('patients.lookup.title')}>
      {!compact && <p className="sp-intro">{t('patients.lookup.hint')}</p>}
      <div className="sp-form-row">
        <TextInput label={t('patients.lookup.system')} value={system} onChange={setSystem} required />
        <TextInput label={t('patients.lookup.value')} value={value} onChange={setValue} required />
        <div>
          <button type="submit" className="sp-button sp-primary" disabled={busy}>
            {t('patients.lookup.find')}
          </button>
        </div>
      </div>
      <ProblemNote error={error} />
    </form>
  );
}
