import { useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useSession } from '../../app/session';
import { DataTable, Page, ProblemNote, useAsync, When } from '../../components/kit';
import { alerts, type AlertDetail } from './privacy-api';
import { CloseAlert } from './CloseAlert';
import { DetectorList, ScoreBadge, StatusBadge, Subject } from './parts';

type Evidence = AlertDetail['entries'][number];

/** The fields of an evidence entry's canonical JSON the table shows (identifiers and codes only). */
function fieldsOf(e: Evidence): { at?: string; action?: string; actor?: string; outcome?: string; patient?: string } {
  try {
    return JSON.parse(e.entry) as Record<string, string>;
  } catch {
    return {};
  }
}

/**
 * One privacy alert: who, the detectors and their reasons, the combined score, first and last time,
 * the evidence entries of the audit log (each opening on the audit screen with its proof, for those
 * who may read the log), the notes, and for privacy.manage the lifecycle: investigate, add a note,
 * close with an outcome after confirming. Notes may name people: they stay on this page.
 */
export function AlertDetailView() {
  const { t } = useTranslation();
  const { can } = useSession();
  const id = useParams().id ?? '';
  const manage = can('privacy.manage');
  const auditLinks = can('audit.read');
  const state = useAsync(() => alerts.get(id), [id]);
  const [detail, setDetail] = useState<AlertDetail | null>(null);
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState('');
  const a = detail?.id === id ? detail : state.data;

  const act = async (what: () => Promise<unknown>, message: string) => {
    setBusy(true);
    setError(null);
    setDone('');
    try {
      await what();
      setDetail(await alerts.get(id));
      setDone(message);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const addNote = (e: FormEvent) => {
    e.preventDefault();
    if (!note.trim()) return;
    void act(async () => {
      await alerts.note(id, note);
      setNote('');
    }, t('privacy.alert.noted'));
  };

  return (
    <Page title={t('privacy.alert.title')} intro={t('privacy.alert.intro')}>
      <p>
        <Link to="/privacy/alerts">{t('privacy.alert.back')}</Link>
      </p>
      <ProblemNote error={state.error} />
      {state.loading && !a && <p role="status">{t('app.loading')}</p>}
      {a && (
        <>
          <dl className="sp-privacy-facts">
            <dt>{t('privacy.fields.subject')}</dt>
            <dd>
              <Subject subject={a.subject} />
            </dd>
            {a.subjectPerson && (
              <>
                <dt>{t('privacy.fields.person')}</dt>
                <dd data-testid="privacy-alert-person">
                  {a.subjectPerson.displayName} ({a.subjectPerson.email}) · {a.subjectPerson.roles.join(', ')}
                </dd>
              </>
            )}
            <dt>{t('privacy.fields.score')}</dt>
            <dd>
              <ScoreBadge score={a.score} />
            </dd>
            <dt>{t('privacy.fields.status')}</dt>
            <dd data-testid="privacy-alert-status">
              <StatusBadge alert={a} />
            </dd>
            <dt>{t('privacy.fields.detectors')}</dt>
            <dd>
              <DetectorList ids={a.detectors} />
            </dd>
            <dt>{t('privacy.fields.firstAt')}</dt>
            <dd>
              <When at={a.firstAt} />
            </dd>
            <dt>{t('privacy.fields.lastAt')}</dt>
            <dd>
              <When at={a.lastAt} />
            </dd>
            {a.assignee && (
              <>
                <dt>{t('privacy.fields.assignee')}</dt>
                <dd>
                  <Subject subject={a.assignee} />
                </dd>
              </>
            )}
          </dl>

          {manage && a.status !== 'closed' && (
            <div className="sp-actions">
              {a.status === 'open' && (
                <button
                  type="button"
                  className="sp-button sp-primary"
                  disabled={busy}
                  onClick={() => void act(() => alerts.investigate(id), t('privacy.alert.investigating'))}
                >
                  {t('privacy.alert.investigate')}
                </button>
              )}
              <CloseAlert
                onClose={async (outcome, text) => {
                  await alerts.close(id, outcome, text);
                  setDetail(await alerts.get(id));
                  setDone(t('privacy.alert.closed'));
                }}
              />
            </div>
          )}
          <p role="status" className="sp-intro">
            {busy ? t('app.loading') : done}
          </p>
          <ProblemNote error={error} />

          <h2>{t('privacy.alert.reasons')}</h2>
          <ul className="sp-privacy-reasons">
            {a.reasons.map((r, i) => (
              <li key={i}>{r}</li>
            ))}
          </ul>

          <h2>{t('privacy.alert.evidence', { count: a.entries.length })}</h2>
          <DataTable<Evidence>
            caption={t('privacy.alert.evidenceCaption')}
            rows={a.entries}
            rowKey={(e) => String(e.idx)}
            empty={t('privacy.alert.noEvidence')}
            columns={[
              {
                key: 'index',
                header: t('audit.fields.index'),
                // The audit screen numbers entries by RFC 9162 leaf index, the log's idx minus one.
                cell: (e) =>
                  auditLinks ? (
                    <Link to={`/audit/entries/${e.idx - 1}`} aria-label={t('audit.search.open', { index: e.idx - 1 })}>
                      #{e.idx - 1}
                    </Link>
                  ) : (
                    `#${e.idx - 1}`
                  ),
              },
              { key: 'at', header: t('audit.fields.at'), cell: (e) => <When at={fieldsOf(e).at} /> },
              { key: 'action', header: t('audit.fields.action'), cell: (e) => <code>{fieldsOf(e).action}</code> },
              {
                key: 'outcome',
                header: t('audit.fields.outcome'),
                cell: (e) => {
                  const o = fieldsOf(e).outcome ?? '';
                  return t(`audit.outcome.${o}`, o);
                },
              },
              {
                key: 'patient',
                header: t('privacy.fields.patientRef'),
                cell: (e) => {
                  const p = fieldsOf(e).patient;
                  return p ? <code className="sp-privacy-id">{p}</code> : '—';
                },
              },
            ]}
          />

          <h2>{t('privacy.alert.notes')}</h2>
          {a.notes.length === 0 ? (
            <p className="sp-empty">{t('privacy.alert.noNotes')}</p>
          ) : (
            <ol className="sp-privacy-notes" data-testid="privacy-notes">
              {a.notes.map((n, i) => (
                <li key={i}>
                  <p className="sp-privacy-note-head">
                    <When at={n.at} /> · <Subject subject={n.author} />
                  </p>
                  <p className="sp-privacy-note-text">{n.text}</p>
                </li>
              ))}
            </ol>
          )}
          {manage && a.status !== 'closed' && (
            <form onSubmit={addNote} aria-label={t('privacy.alert.addNote')}>
              <div className="sp-field">
                <label htmlFor="privacy-note">{t('privacy.alert.note')}</label>
                <textarea
                  id="privacy-note"
                  className="sp-privacy-text"
                  rows={3}
                  maxLength={4000}
                  value={note}
                  aria-describedby="privacy-note-hint"
                  onChange={(e) => setNote(e.target.value)}
                />
                <small id="privacy-note-hint" className="sp-intro">
                  {t('privacy.alert.noteHint')}
                </small>
              </div>
              <div className="sp-actions">
                <button type="submit" className="sp-button" disabled={busy || !note.trim()}>
                  {t('privacy.alert.addNote')}
                </button>
              </div>
            </form>
          )}
        </>
      )}
    </Page>
  );
}
