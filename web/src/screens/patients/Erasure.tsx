import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { useSession } from '../../app/session';
import { ConfirmButton, Badge, When } from '../../components/kit';
import { TextInput } from './TextInput';
import { ErasureProof } from './ErasureProof';

interface ErasureView {
  erasureId: string;
  erasedAt: string;
  shredding: 'pending' | 'complete';
  counts: Record<string, number>;
}

/**
 * Erasure (crypto-shredding; cannot be undone): the person types the patient's id to confirm, the
 * server erases, and the page shows what was erased and the proof that it is on the audit log.
 */
export function Erasure({
  patientId,
  alreadyErased,
  onErased,
}: {
  patientId: string;
  alreadyErased: boolean;
  onErased: () => void;
}) {
  const { t } = useTranslation();
  const { can } = useSession();
  const [typed, setTyped] = useState('');
  const [done, setDone] = useState<ErasureView | null>(null);
  const erase = async () => {
    if (typed.trim() !== patientId)
      throw { status: 400, code: 'SP_CONSOLE_CONFIRMATION', title: t('patients.erase.mismatch') };
    setDone((await raw('DELETE', `/v1/patients/${encodeURIComponent(patientId)}?erase=true`)) as ErasureView);
    onErased();
  };
  return (
    <section aria-labelledby="sp-patients-erase">
      <h3 id="sp-patients-erase">{t('patients.erase.title')}</h3>
      {done ? (
        <>
          <p role="status">
            {t('patients.erase.done')} <When at={done.erasedAt} />{' '}
            <Badge tone={done.shredding === 'complete' ? 'ok' : 'neutral'}>
              {t(`patients.erase.shredding.${done.shredding}`)}
            </Badge>
          </p>
          <p>
            {t('patients.erase.counts', {
              notifications: done.counts.notifications ?? 0,
              contactPoints: done.counts.contactPoints ?? 0,
              deliveries: done.counts.deliveriesCancelled ?? 0,
            })}
          </p>
        </>
      ) : alreadyErased ? (
        <p>{t('patients.erase.already')}</p>
      ) : (
        <>
          <p>{t('patients.erase.hint')}</p>
          <ConfirmButton
            danger
            label={t('patients.erase.button')}
            title={t('patients.erase.confirmTitle')}
            confirmLabel={t('patients.erase.confirm')}
            body={
              <>
                <p>{t('patients.erase.confirmBody')}</p>
                <TextInput label={t('patients.erase.typeId', { id: patientId })} value={typed} onChange={setTyped} />
              </>
            }
            onConfirm={erase}
          />
        </>
      )}
      {(done || alreadyErased) && can('audit.read') && <ErasureProof patientId={patientId} />}
    </section>
  );
}
