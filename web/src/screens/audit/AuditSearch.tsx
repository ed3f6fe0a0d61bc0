import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import { api, ok } from '../../app/api';
import { Badge, DataTable, Page, ProblemNote, When, type Column } from '../../components/kit';
import { exportAudit, type AuditItem } from './exportAudit';
import { DateTimeField, TextInput, toIso } from './fields';

interface Query {
  patientId?: string;
  actor?: string;
  action?: string;
  from?: string;
  to?: string;
}

const PAGE = 100;
/** An export reads at most this many entries (a narrower search exports the rest). */
const EXPORT_MAX = 10_000;

async function fetchPage(q: Query, cursor?: string) {
  return ok(api.GET('/v1/audit/events', { params: { query: { ...q, limit: PAGE, ...(cursor ? { cursor } : {}) } } }));
}

/**
 * Audit search: patient (its id, kept in this component and sent only in the API request), actor,
 * action (exact or `prefix.*`) and time, in log order; each entry opens with its proof; the whole
 * result downloads as JSON or CSV.
 */
export function AuditSearch() {
  const { t } = useTranslation();
  const [form, setForm] = useState({ patientId: '', actor: '', action: '', from: dayAgo(), to: '' });
  const [query, setQuery] = useState<Query | null>(null);
  const [items, setItems] = useState<AuditItem[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState('');

  const run = async (q: Query, cursor?: string) => {
    setBusy(true);
    setError(null);
    setNote('');
    try {
      const page = await fetchPage(q, cursor);
      setItems((old) => (cursor ? [...old, ...(page.items as AuditItem[])] : (page.items as AuditItem[])));
      setNext(page.nextCursor);
      setQuery(q);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const q: Query = {};
    for (const k of ['patientId', 'actor', 'action'] as const) if (form[k].trim()) q[k] = form[k].trim();
    if (form.from) q.from = toIso(form.from);
    if (form.to) q.to = toIso(form.to);
    void run(q);
  };

  const exportAll = async (format: 'json' | 'csv') => {
    if (!query) return;
    setBusy(true);
    setError(null);
    try {
      const all: AuditItem[] = [];
      let cursor: string | undefined;
      do {
        const page = await fetchPage(query, cursor);
        all.push(...(page.items as AuditItem[]));
        cursor = page.nextCursor ?? undefined;
      } while (cursor && all.length < EXPORT_MAX);
      exportAudit(all.slice(0, EXPORT_MAX), format);
      setNote(
        t(cursor ? 'audit.search.exportedCapped' : 'audit.search.exported', {
          count: Math.min(all.length, EXPORT_MAX),
        }),
      );
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const columns: Column<AuditItem>[] = [
    {
      key: 'index',
      header: t('audit.fields.index'),
      cell: (e) => (
        <Link to={`/audit/entries/${e.index}`} aria-label={t('audit.search.open', { index: e.index })}>
          #{e.index}
        </Link>
      ),
    },
    { key: 'at', header: t('audit.fields.at'), cell: (e) => <When at={e.at} /> },
    { key: 'action', header: t('audit.fields.action'), cell: (e) => <code>{e.action}</code> },
    { key: 'actor', header: t('audit.fields.actor'), cell: (e) => <span className="sp-audit-hash">{e.actor}</span> },
    {
      key: 'outcome',
      header: t('audit.fields.outcome'),
      cell: (e) => (
        <Badge tone={e.outcome === 'success' ? 'ok' : 'bad'}>{t(`audit.outcome.${e.outcome}`, e.outcome)}</Badge>
      ),
    },
    {
      key: 'target',
      header: t('audit.fields.target'),
      cell: (e) => (e.target ? <span className="sp-audit-hash">{`${e.target.type} ${e.target.id ?? ''}`}</span> : '—'),
    },
  ];

  const set = (k: keyof typeof form) => (v: string) => setForm((f) => ({ ...f, [k]: v }));
  return (
    <Page title={t('audit.search.title')} intro={t('audit.search.intro')}>
      <form onSubmit={submit} aria-label={t('audit.search.title')}>
        <div className="sp-form-row">
          <TextInput
            id="audit-actor"
            label={t('audit.fields.actor')}
            value={form.actor}
            onChange={set('actor')}
            hint={t('audit.search.actorHint')}
          />
          <TextInput
            id="audit-action"
            label={t('audit.fields.action')}
            value={form.action}
            onChange={set('action')}
            hint={t('audit.search.actionHint')}
          />
          <TextInput
            id="audit-patient"
            label={t('audit.fields.patientId')}
            value={form.patientId}
            onChange={set('patientId')}
            hint={t('audit.search.patientHint')}
          />
        </div>
        <div className="sp-form-row">
          <DateTimeField id="audit-from" label={t('audit.fields.from')} value={form.from} onChange={set('from')} />
          <DateTimeField id="audit-to" label={t('audit.fields.to')} value={form.to} onChange={set('to')} />
        </div>
        <div className="sp-actions">
          <button type="submit" className="sp-button sp-primary" disabled={busy}>
            {t('common.search')}
          </button>
          {query && (
            <>
              <button type="button" className="sp-button" disabled={busy} onClick={() => void exportAll('json')}>
                {t('audit.search.exportJson')}
              </button>
              <button type="button" className="sp-button" disabled={busy} onClick={() => void exportAll('csv')}>
                {t('audit.search.exportCsv')}
              </button>
            </>
          )}
        </div>
      </form>
      <ProblemNote error={error} />
      <p role="status" className="sp-intro">
        {busy ? t('app.loading') : note || (query ? t('audit.search.count', { count: items.length }) : '')}
      </p>
      {query && (
        <DataTable
          caption={t('audit.search.caption')}
          columns={columns}
          rows={items}
          rowKey={(e) => String(e.index)}
          empty={t('audit.search.none')}
        />
      )}
      {next && query && (
        <div className="sp-actions">
          <button type="button" className="sp-button" disabled={busy} onClick={() => void run(query, next)}>
            {t('common.more')}
          </button>
        </div>
      )}
    </Page>
  );
}

function dayAgo(): string {
  const d = new Date(Date.now() - 86_400_000);
  d.setSeconds(0, 0);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}
