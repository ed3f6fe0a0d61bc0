/**
 * The search result as a file, built here from the API's answers (there is no export route): JSON
 * as the API answered each entry, or CSV with one line per entry. Audit entries hold identifiers,
 * codes and hashes, never PHI; the file name carries only the date.
 */
export interface AuditItem {
  index: number;
  at: string;
  actor: string;
  action: string;
  outcome: string;
  target: { type: string; id: string | null } | null;
  patientRef: string | null;
  requestId: string | null;
  sourceIp: string | null;
  details: Record<string, unknown> | null;
  leafHash: string;
}

const COLUMNS = [
  'index',
  'at',
  'actor',
  'action',
  'outcome',
  'targetType',
  'targetId',
  'patientRef',
  'requestId',
  'sourceIp',
  'details',
  'leafHash',
];

/** RFC 4180 field: quoted when it holds a comma, quote or line break; a leading =+-@ is neutralised for spreadsheets. */
function field(v: unknown): string {
  let s = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(items: AuditItem[]): string {
  const rows = items.map((e) =>
    [
      e.index,
      e.at,
      e.actor,
      e.action,
      e.outcome,
      e.target?.type,
      e.target?.id,
      e.patientRef,
      e.requestId,
      e.sourceIp,
      e.details,
      e.leafHash,
    ]
      .map(field)
      .join(','),
  );
  return [COLUMNS.join(','), ...rows].join('\r\n') + '\r\n';
}

/** Offers `text` as a download (a Blob URL, revoked once the click was handled). */
export function download(text: string, type: string, name: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

export function exportAudit(items: AuditItem[], format: 'json' | 'csv'): void {
  const day = new Date().toISOString().slice(0, 10);
  if (format === 'json')
    download(
      JSON.stringify({ exportedAt: new Date().toISOString(), items }, null, 2),
      'application/json',
      `sealpost-audit-${day}.json`,
    );
  else download(toCsv(items), 'text/csv', `sealpost-audit-${day}.csv`);
}
