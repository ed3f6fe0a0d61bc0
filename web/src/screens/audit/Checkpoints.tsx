import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, ok } from '../../app/api';
import { useSession } from '../../app/session';
import { DataTable, Page, ProblemNote, useAsync, When, type Column } from '../../components/kit';
import { checkCheckpoints, latestNote, loadVerifierKey, recentCheckpoints, type CheckedRow } from './proofs';
import { Verdict } from './Verdict';

const SHOWN = 20;

/**
 * The newest signed checkpoints, each verified here: the note's Ed25519 signature by the log's
 * key, its root against the listed root, and an RFC 9162 consistency proof from the checkpoint
 * before it (the log was only appended to). Signing one now needs audit.checkpoint.
 */
export function Checkpoints() {
  const { t } = useTranslation();
  const { can } = useSession();
  const [signError, setSignError] = useState<unknown>(null);
  const [signed, setSigned] = useState<number | null>(null);
  const state = useAsync(async () => {
    const [{ vkey }, note] = await Promise.all([loadVerifierKey(), latestNote()]);
    const size = Number(note.split('\n')[1]);
    const rows = await recentCheckpoints(Number.isSafeInteger(size) ? size : 0, SHOWN);
    return { vkey, rows: (await checkCheckpoints(rows, vkey)).reverse() };
  }, []);

  const sign = async () => {
    setSignError(null);
    try {
      const c = await ok(api.POST('/v1/audit/checkpoints'));
      setSigned(c.size);
      state.reload();
    } catch (e) {
      setSignError(e);
    }
  };

  const columns: Column<CheckedRow>[] = [
    {
      key: 'size',
      header: t('audit.checkpoints.size'),
      cell: (c) => <span data-testid="checkpoint-size">{c.size}</span>,
    },
    { key: 'at', header: t('audit.checkpoints.at'), cell: (c) => <When at={c.createdAt} /> },
    { key: 'root', header: t('audit.checkpoints.root'), cell: (c) => <span className="sp-audit-hash">{c.root}</span> },
    {
      key: 'signature',
      header: t('audit.checkpoints.signature'),
      cell: (c) => (
        <Verdict
          ok={c.signature === 'unsupported' ? null : c.signature === 'valid' && c.rootMatches}
          label={c.signature === 'unsupported' ? t('audit.entry.signatureUnsupported') : ''}
          testId="checkpoint-signature"
        />
      ),
    },
    {
      key: 'consistency',
      header: t('audit.checkpoints.consistency'),
      cell: (c) => (
        <Verdict
          ok={c.consistent}
          label={c.consistent === null ? t('audit.checkpoints.first') : ''}
          testId="checkpoint-consistency"
        />
      ),
    },
  ];

  return (
    <Page
      title={t('audit.checkpoints.title')}
      intro={t('audit.checkpoints.intro', { count: SHOWN })}
      actions={
        can('audit.checkpoint') ? (
          <button type="button" className="sp-button sp-primary" onClick={() => void sign()}>
            {t('audit.checkpoints.sign')}
          </button>
        ) : undefined
      }
    >
      <ProblemNote error={state.error ?? signError} />
      {signed !== null && <p role="status">{t('audit.checkpoints.signed', { size: signed })}</p>}
      {state.loading && !state.data && <p role="status">{t('app.loading')}</p>}
      {state.data && (
        <>
          <DataTable
            caption={t('audit.checkpoints.title')}
            columns={columns}
            rows={state.data.rows}
            rowKey={(c) => String(c.size)}
          />
          <h2>{t('audit.checkpoints.key')}</h2>
          <p className="sp-intro">{t('audit.entry.keyIntro')}</p>
          <pre className="sp-audit-code">{state.data.vkey}</pre>
        </>
      )}
    </Page>
  );
}
