import { Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { useSession } from '../../app/session';
import { Badge, ProblemNote, useAsync, When } from '../../components/kit';
import { verifyInclusion } from './merkle';

interface Entry {
  index: number;
  at: string;
  actor: string;
  leafHash: string;
}
interface Checkpoint {
  size: number;
  root: string;
  note: string;
}

/**
 * The erasure's proof: its `patient.erased` audit entry, a signed checkpoint that covers it (one is
 * signed now when none does yet and the person may), and the inclusion proof checked here.
 */
async function loadProof(patientId: string, mayCheckpoint: boolean) {
  const q = new URLSearchParams({ patientId, action: 'patient.erased', limit: '500' });
  const events = (await raw('GET', `/v1/audit/events?${q}`)) as { items: Entry[] };
  const entry = events.items.at(-1);
  if (!entry) return null;
  // A checkpoint signed now covers the entry; without that permission, the newest of the first page of history.
  const cp: Checkpoint | undefined = mayCheckpoint
    ? await raw('POST', '/v1/audit/checkpoints')
    : (await raw('GET', '/v1/audit/checkpoints?limit=500')).items?.at(-1);
  if (!cp || cp.size <= entry.index) return { entry, checkpoint: null, verified: false };
  const p = await raw('GET', `/v1/audit/proof/inclusion?index=${entry.index}&size=${cp.size}`);
  const verified = await verifyInclusion(entry.leafHash, entry.index, cp.size, p.proof, cp.root);
  return { entry, checkpoint: cp, path: p.proof as string[], verified };
}

export function ErasureProof({ patientId }: { patientId: string }) {
  const { t } = useTranslation();
  const { can } = useSession();
  const proof = useAsync(() => loadProof(patientId, can('audit.checkpoint')), [patientId]);
  const d = proof.data;
  return (
    <div className="sp-patients-proof" data-testid="erasure-proof">
      <h4>{t('patients.erase.proof')}</h4>
      <ProblemNote error={proof.error} />
      {proof.loading && <p role="status">{t('app.loading')}</p>}
      {d && (
        <dl className="sp-notifications-facts">
          <dt>{t('patients.erase.entry')}</dt>
          <dd>
            {can('audit.read') ? (
              <Link to={`/audit/entries/${d.entry.index}`}>{t('notifications.entry', { index: d.entry.index })}</Link>
            ) : (
              t('notifications.entry', { index: d.entry.index })
            )}{' '}
            · <When at={d.entry.at} /> · {d.entry.actor}
          </dd>
          <dt>{t('patients.erase.leaf')}</dt>
          <dd>
            <code>{d.entry.leafHash}</code>
          </dd>
          <dt>{t('patients.erase.checkpoint')}</dt>
          <dd>
            {d.checkpoint
              ? t('patients.erase.treeSize', { size: d.checkpoint.size })
              : t('patients.erase.noCheckpoint')}
          </dd>
          {d.checkpoint && (
            <>
              <dt>{t('patients.erase.root')}</dt>
              <dd>
                <code>{d.checkpoint.root}</code>
              </dd>
              <dt>{t('patients.erase.inclusion')}</dt>
              <dd>
                <Badge tone={d.verified ? 'ok' : 'bad'}>
                  {t(d.verified ? 'patients.erase.verified' : 'patients.erase.notVerified')}
                </Badge>
              </dd>
            </>
          )}
        </dl>
      )}
      {proof.data === null && <p>{t('patients.erase.noEntry')}</p>}
    </div>
  );
}
