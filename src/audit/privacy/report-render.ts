/**
 * The report's readable forms: report.html (self-contained, no script), report.pdf (headless
 * Chromium's print-to-PDF through playwright-core, where both are installed) and notice.html, the
 * facts 45 CFR 164.404(c) requires in a notice to individuals, filled in from the report with the
 * places the operator must complete clearly marked. Then the directory is written and signed.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Signer } from '../../crypto/signer.js';
import type { AccessReport } from './access-report.js';
import { isRefusedAttempt, type ParsedEntry } from './report-facts.js';
import { signReport, type ReportFileName, type ReportSignature } from './report-signature.js';

/** The rows report.html lists; report.json always holds every entry. */
export const HTML_ENTRY_LIMIT = 10_000;
export const CHROMIUM_PATH = '/usr/bin/chromium';

const esc = (v: unknown) =>
  String(v ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
const day = (iso: string) => iso.slice(0, 10);

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;color:#111;max-width:70rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #999}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #bbb;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#eee}td.n{text-align:right}code{font-size:12px;word-break:break-all}.todo{background:#fff3b0;font-weight:600}
@media print{body{margin:0}h2{break-after:avoid}tr{break-inside:avoid}}`;

function page(title: string, lang: string, body: string): string {
  return `<!doctype html>\n<html lang="${lang}"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>${STYLE}</style></head><body>\n${body}\n</body></html>\n`;
}

function table(head: string[], rows: unknown[][]): string {
  if (!rows.length) return '<p>None.</p>';
  return `<table><thead><tr>${head.map((h) => `<th scope="col">${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map(
      (r) =>
        `<tr>${r.map((c) => (typeof c === 'number' ? `<td class="n">${c}</td>` : `<td>${esc(c)}</td>`)).join('')}</tr>`,
    )
    .join('\n')}</tbody></table>`;
}

export function scopeText(r: AccessReport): string {
  switch (r.scope.kind) {
    case 'tenant':
      return 'everything in the tenant';
    case 'user':
      return `the person (user) ${r.scope.value}${
        r.scope.devices?.length ? ` and the ${r.scope.devices.length} devices they registered` : ''
      }`;
    case 'apiKey':
      return `the API key ${r.scope.value}`;
    case 'address':
      return `requests from the network address ${r.scope.value}`;
    case 'patients':
      return `${r.scope.patientRefs?.length ?? 0} patients named by the investigator`;
  }
}

export function renderReportHtml(r: AccessReport): string {
  const f = r.facts;
  const entries = r.entries.slice(0, HTML_ENTRY_LIMIT).map((x) => {
    const e = JSON.parse(x.entry) as ParsedEntry;
    return [
      x.index,
      e.at,
      e.actor,
      e.action,
      e.outcome,
      e.target ? `${e.target.type} ${e.target.id ?? ''}` : '',
      e.patient ?? '',
      e.ip ?? '',
      x.category,
    ];
  });
  const body = `<h1>${esc(r.organisation)}: access report</h1>
<p>Breach investigation report ${esc(r.id)}, generated ${esc(r.createdAt)}. It covers ${esc(scopeText(r))} from
${esc(r.window.from)} to ${esc(r.window.to)} (tenant ${esc(r.tenant)}). Every entry below is in the audit log
checkpoint of size ${r.checkpoint.size}; report.json carries each entry's inclusion proof and report.sig.json the
signature. Check them with <code>sealpost verify-report &lt;this directory&gt;</code>.</p>
<h2>Summary</h2>
${table(
  ['What', 'Count'],
  [
    ['Audit entries in scope', f.entries],
    ['Disclosures (sends, portal reads, record reads, exports)', f.byCategory.disclosure],
    ['Other accesses to patient records', f.byCategory.access],
    ['Sign-in attempts (succeeded / failed)', `${f.signIns.attempts} (${f.signIns.succeeded} / ${f.signIns.failed})`],
    ['Sessions', f.sessions.length],
    ['Refused or failed actions', f.failures],
    ['Patients affected (successful accesses and disclosures)', r.patients.count],
    [
      'Refused attempts (access denied, failed reads): patients they were about',
      `${f.refused.attempts}: ${f.refused.patientRefs.length}`,
    ],
    ['Notifications concerned', f.notifications.length],
  ],
)}
<h2>Patients affected</h2>
<p>${r.patients.count} patients.${r.patients.ids ? '' : ' The list is shown only to those allowed to see it.'}</p>
${
  r.patients.ids
    ? table(
        ['Patient id', 'Status'],
        [
          ...r.patients.ids.map((id) => [id, 'on record']),
          ...(r.patients.erasedRefs ?? []).map((ref) => [ref, 'erased (pseudonymous reference)']),
          ...(r.patients.unmatchedRefs ?? []).map((ref) => [ref, 'no patient row (pseudonymous reference)']),
        ],
      )
    : ''
}
<h2>Refused attempts</h2>
<p>${f.refused.attempts} attempts were refused or failed: they showed nothing and their patients are not counted as
affected, but they show what was tried.${f.refused.patientRefs.length ? ' The patients they were about (pseudonymous references):' : ''}</p>
${
  f.refused.patientRefs.length
    ? table(
        ['Patient reference'],
        f.refused.patientRefs.map((ref) => [ref]),
      )
    : ''
}
${table(
  ['Index', 'At', 'Actor', 'Action', 'Code'],
  r.entries
    .filter((x) => isRefusedAttempt(JSON.parse(x.entry) as ParsedEntry))
    .slice(0, HTML_ENTRY_LIMIT)
    .map((x) => {
      const e = JSON.parse(x.entry) as ParsedEntry;
      return [x.index, e.at, e.actor, e.action, typeof e.details?.code === 'string' ? e.details.code : ''];
    }),
)}
<h2>Kinds of information involved</h2>
${table(
  ['Kind', 'From', 'Entries'],
  f.phi.map((p) => [p.kind, p.sources.join(', '), p.entries]),
)}
<h2>Notifications sent, by kind of contact point</h2>
${table(
  ['Channel', 'Sent'],
  Object.entries(f.sentByChannel).map(([c, n]) => [c, n]),
)}
${table(
  ['Notification', 'Type', 'Deliveries (channel: events)'],
  f.notifications.map((n) => [
    n.id,
    n.type ?? 'unknown',
    n.deliveries.map((d) => `${d.channel ?? '?'}: ${d.actions.join(', ')}`).join('; '),
  ]),
)}
<h2>Sessions</h2>
${table(
  ['Session', 'Who', 'First', 'Last', 'Entries'],
  f.sessions.map((s) => [s.id, s.actor, s.first, s.last, s.actions]),
)}
<h2>Actions</h2>
${table(
  ['Action', 'Entries'],
  Object.entries(f.byAction).map(([a, n]) => [a, n]),
)}
<h2>Who and from where</h2>
${table(
  ['Actor'],
  f.actors.map((a) => [a]),
)}
${table(
  ['Network address'],
  f.addresses.map((a) => [a]),
)}
<h2>Entries</h2>
${r.entries.length > HTML_ENTRY_LIMIT ? `<p>The first ${HTML_ENTRY_LIMIT} of ${r.entries.length} entries; report.json holds all.</p>` : ''}
${table(['Index', 'Time (UTC)', 'Actor', 'Action', 'Outcome', 'Target', 'Patient ref', 'Address', 'Category'], entries)}
<h2>Checkpoint</h2>
<pre>${esc(r.checkpoint.note)}</pre>`;
  return page(`${r.organisation}: access report ${r.id}`, 'en', body);
}

/** How individuals reach the organisation (164.404(c)(1)(E)); unset ones are marked for the operator. */
export interface NoticeContacts {
  phone?: string;
  email?: string;
  web?: string;
  postal?: string;
}

const todo = (what: string) => `<span class="todo">[TO BE COMPLETED BY THE ORGANISATION: ${esc(what)}]</span>`;

/** The 164.404(c) notice to individuals, filled in from the report; operator-only parts are marked. */
export function renderNoticeHtml(
  r: AccessReport,
  contacts: NoticeContacts,
  dates: { discoveredAt?: string } = {},
): string {
  const times = r.entries.map((x) => (JSON.parse(x.entry) as ParsedEntry).at).sort();
  const first = times[0];
  const last = times[times.length - 1];
  const kinds = r.facts.phi.map((p) => p.kind);
  const contact = [
    contacts.phone ? `by telephone (toll-free) at ${esc(contacts.phone)}` : todo('toll-free telephone number'),
    contacts.email ? `by e-mail at ${esc(contacts.email)}` : todo('e-mail address'),
    contacts.web ? `on our web site at ${esc(contacts.web)}` : todo('web site'),
    contacts.postal ? `by post at ${esc(contacts.postal)}` : todo('postal address'),
  ];
  const body = `<h1>Notice of a privacy incident: ${esc(r.organisation)}</h1>
<p>${todo('date of this letter')}</p>
<p>Dear ${todo('name of the individual')},</p>
<p>We are writing to tell you about an incident that may have involved some of your health information.</p>
<h2>What happened</h2>
<p>${todo('a brief description of what happened')}</p>
<p>Our review of our access records found ${first ? `activity between ${esc(day(first))} and ${esc(day(last!))}` : 'no recorded activity'}
that we are treating as a possible breach (date of the breach: ${first ? esc(day(first)) : todo('date of the breach')}${
    first && day(first) !== day(last!) ? ` to ${esc(day(last!))}` : ''
  }). We discovered it on ${dates.discoveredAt ? esc(dates.discoveredAt) : todo('date of discovery')}.</p>
<h2>What information was involved</h2>
${
  kinds.length
    ? `<p>The information involved may have included:</p><ul>${kinds.map((k) => `<li>${esc(k)}</li>`).join('')}</ul>`
    : `<p>${todo('the types of information involved (the report found none recorded)')}</p>`
}
<p>${todo('confirm the list above for this individual; add any information involved outside this system')}</p>
<h2>What you can do</h2>
<p>${todo('steps individuals should take to protect themselves, e.g. review statements from your health insurer and providers, tell us about services you did not receive')}</p>
<h2>What we are doing</h2>
<p>We reviewed the records of every access to the information concerned; the review is signed and can be verified
independently (report ${esc(r.id)}). ${todo('what the organisation is doing to investigate, to reduce harm and to protect against further breaches')}</p>
<h2>For more information</h2>
<p>If you have questions, you can reach us ${contact.join('; ')}.</p>
<p>${esc(r.organisation)}</p>`;
  return page(`${r.organisation}: notice of a privacy incident`, 'en', body);
}

/** Prints HTML to PDF with headless Chromium, or says why it could not. */
export async function renderPdf(html: string): Promise<{ pdf: Buffer } | { skipped: string }> {
  if (!existsSync(CHROMIUM_PATH)) return { skipped: `no Chromium at ${CHROMIUM_PATH}: report.pdf was not produced` };
  let chromium: typeof import('playwright-core').chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    return { skipped: 'playwright-core is not installed: report.pdf was not produced' };
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ javaScriptEnabled: false });
    // Offline by construction: the HTML references nothing, and any request is refused.
    await page.route('**/*', (route) => route.abort());
    await page.setContent(html, { waitUntil: 'load' });
    return {
      pdf: await page.pdf({
        format: 'A4',
        printBackground: true,
        margin: { top: '15mm', bottom: '15mm', left: '12mm', right: '12mm' },
      }),
    };
  } finally {
    await browser.close();
  }
}

export interface WrittenReport {
  dir: string;
  files: ReportFileName[];
  signature: ReportSignature;
  /** Why report.pdf is missing, when it is. */
  pdfSkipped?: string;
}

/** Writes report.json, the renderings and report.sig.json (signed last, over all of them) to `dir`. */
export async function writeReportDir(
  r: AccessReport,
  dir: string,
  opts: {
    signer: Signer;
    checkpointKey: string;
    contacts: NoticeContacts;
    discoveredAt?: string;
    pdf?: boolean;
    now: Date;
  },
): Promise<WrittenReport> {
  await mkdir(dir, { recursive: true });
  const html = renderReportHtml(r);
  const files: Partial<Record<ReportFileName, Buffer>> = {
    'report.json': Buffer.from(`${JSON.stringify(r, null, 1)}\n`, 'utf8'),
    'report.html': Buffer.from(html, 'utf8'),
    'notice.html': Buffer.from(renderNoticeHtml(r, opts.contacts, { discoveredAt: opts.discoveredAt }), 'utf8'),
  };
  const pdf = opts.pdf === false ? { skipped: 'report.pdf was not asked for' } : await renderPdf(html);
  if ('pdf' in pdf) files['report.pdf'] = pdf.pdf;
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
  const signature = await signReport(opts.signer, opts.checkpointKey, r.id, opts.now, files);
  await writeFile(join(dir, 'report.sig.json'), `${JSON.stringify(signature, null, 1)}\n`);
  return {
    dir,
    files: Object.keys(files) as ReportFileName[],
    signature,
    ...('skipped' in pdf ? { pdfSkipped: pdf.skipped } : {}),
  };
}
