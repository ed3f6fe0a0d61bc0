import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { problems } from '../schemas.js';
import type { PrivacyReportService } from '../../core/privacy-report-service.js';

const Signature = Type.Object(
  {
    format: Type.Literal('sealpost-report-signature-v1'),
    alg: Type.Literal('EdDSA'),
    keyId: Type.String(),
    signed: Type.String({ description: 'The exact text signed: RFC 8785 canonical JSON of header' }),
    header: Type.Object({
      v: Type.Literal(1),
      type: Type.Literal('sealpost.access_report'),
      keyId: Type.String(),
      reportId: Type.String(),
      signedAt: Type.String(),
      files: Type.Record(Type.String(), Type.String(), { description: 'File name → hex SHA-256 of its exact bytes' }),
    }),
    signature: Type.String({ description: 'base64url Ed25519 signature over signed' }),
    publicKey: Type.Record(Type.String(), Type.String(), { description: 'The notary public key (JWK)' }),
    checkpointKey: Type.String({ description: "C2SP verifier key of the audit log's checkpoints" }),
  },
  { description: 'report.sig.json' },
);

/** A report built in one request holds at most this many entries (`sealpost report access` has no limit). */
export const API_REPORT_MAX_ENTRIES = 200_000;

export interface PrivacyReportRouteOptions {
  reports: PrivacyReportService;
}

/** POST /v1/privacy/reports: the breach investigation report as signed JSON (privacy.report). */
export const privacyReportRoutes: RoutePlugin<PrivacyReportRouteOptions> = async (app, { reports }) => {
  app.post(
    '/reports',
    {
      config: { permission: 'privacy.report' },
      schema: {
        tags: ['privacy'],
        summary: 'Run a breach investigation report over the audit log (privacy officers, administrators)',
        description:
          'Every audit entry of the window (`from` inclusive, `to` exclusive, at most 366 days) and of at most one scope ' +
          '(`user`, `apiKey`, `address` or `patients`; none: the whole tenant), with the facts derived from them (patients ' +
          'affected with their ids, kinds of information, notifications by channel kind, sign-ins, sessions) and each ' +
          "entry's RFC 9162 inclusion proof to a signed checkpoint. `reportJson` is the exact text of report.json that " +
          '`signature` (report.sig.json) signs: save both in a directory and run `sealpost verify-report <dir> --keys ' +
          'sealpost-keys.json` on it (the key set of /.well-known/sealpost-keys.json; without it the report is only ' +
          'self-consistent). Patients affected count successful accesses only; refused attempts are counted apart ' +
          '(`facts.refused`). At most ' +
          `${API_REPORT_MAX_ENTRIES} entries (else SP_PRIVACY_REPORT_TOO_LARGE: use the CLI). Audited as privacy.report_run.`,
        body: Type.Object(
          {
            from: Type.String({
              maxLength: 40,
              description: 'ISO 8601 date-time with an explicit offset (Z or ±hh:mm)',
            }),
            to: Type.String({ maxLength: 40, description: 'ISO 8601 date-time with an explicit offset, after from' }),
            user: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            apiKey: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            address: Type.Optional(
              Type.String({
                minLength: 2,
                maxLength: 45,
                description: 'IPv4 or IPv6 address; an IPv4-mapped IPv6 address is taken as the IPv4 address',
              }),
            ),
            patients: Type.Optional(
              Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { minItems: 1, maxItems: 100_000 }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            id: Type.String(),
            entries: Type.Integer({ description: 'Audit entries in the report' }),
            patients: Type.Integer({ description: 'Patients affected' }),
            reportJson: Type.String({ description: 'report.json, exactly as signed' }),
            signature: Signature,
          }),
          ...problems(400, 401, 403, 422),
        },
      },
    },
    async (req) => {
      const r = await reports.run(requestContext(req), req.body, {
        showPatientIds: true,
        maxEntries: API_REPORT_MAX_ENTRIES,
      });
      const reportJson = `${JSON.stringify(r, null, 1)}\n`;
      const signature = await reports.sign(r, { 'report.json': Buffer.from(reportJson, 'utf8') });
      return { id: r.id, entries: r.facts.entries, patients: r.patients.count, reportJson, signature };
    },
  );
};
