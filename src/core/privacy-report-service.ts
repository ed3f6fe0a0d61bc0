import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientRef } from './context.js';
import { AppError } from './errors.js';
import { NOTIFICATION_TYPES, type NotificationType } from './domain.js';
import type { AuditLog } from '../audit/audit-log.js';
import {
  buildAccessReport,
  parseReportRequest,
  runDetails,
  type AccessReport,
  type AccessReportDeps,
} from '../audit/privacy/access-report.js';
import { signReport, type ReportFileName, type ReportSignature } from '../audit/privacy/report-signature.js';
import type { Signer } from '../crypto/signer.js';
import { jwkSet } from '../crypto/notary.js';

/** The raw request: CLI options or the API body (validated here, before anything is read). */
export interface ReportAsk {
  from: unknown;
  to: unknown;
  user?: unknown;
  apiKey?: unknown;
  address?: unknown;
  patients?: unknown;
}

/**
 * Runs breach investigation reports (audit/privacy/access-report.ts) for the CLI and the API with
 * the installation's keys, templates and organisation, and audits each run (`privacy.report_run`:
 * scope kind, window and counts, never the patient list) once the report is built. Bad input is
 * refused before anything is read or written.
 */
export class PrivacyReportService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly log: AuditLog,
  ) {}

  /** What `buildAccessReport` needs, from this installation (the simulator calls it in-process). */
  reportDeps(): AccessReportDeps {
    const d = this.deps;
    return {
      store: d.store,
      checkpoint: () => this.log.checkpoint(),
      patientRef: (tenantId, id) => patientRef(d, tenantId, id),
      templateFields: (type) => {
        if (!(NOTIFICATION_TYPES as readonly string[]).includes(type)) return [];
        return d.templates
          .variables(type as NotificationType)
          .filter((v) => v.phi)
          .map((v) => v.name);
      },
      clock: d.clock,
      organisation: d.config.organisationName,
    };
  }

  /** The verifier key of the checkpoints (report.sig.json carries it). */
  checkpointKey(): string {
    return this.log.verifierKey();
  }

  /**
   * The key set a report is verified against (`sealpost verify-report --keys`): exactly what
   * /.well-known/sealpost-keys.json serves, every published notary key and the checkpoint key.
   */
  publishedKeys(): ReturnType<typeof jwkSet> & { checkpointKey: string } {
    return { ...jwkSet(this.deps.signing?.publishedKeys() ?? []), checkpointKey: this.log.verifierKey() };
  }

  signer(): Signer {
    if (!this.deps.signing) throw new AppError('SP_SERVER_INTERNAL', 'no notary key to sign the report with');
    return this.deps.signing.signer();
  }

  async run(
    ctx: RequestContext,
    ask: ReportAsk,
    opts: { showPatientIds: boolean; maxEntries?: number },
  ): Promise<AccessReport> {
    const req = parseReportRequest({ tenantId: ctx.tenantId, ...ask });
    const report = await buildAccessReport(this.reportDeps(), req, opts);
    await this.deps.store.transaction((tx) =>
      audit(tx, ctx, this.deps.clock(), {
        action: 'privacy.report_run',
        targetType: 'privacy_report',
        targetId: report.id,
        details: runDetails(report),
      }),
    );
    await this.deps.store.durable();
    return report;
  }

  /** Signs the report's files (report.json's exact bytes, and renderings when there are any). */
  sign(report: AccessReport, files: Partial<Record<ReportFileName, Uint8Array>>): Promise<ReportSignature> {
    return signReport(this.signer(), this.checkpointKey(), report.id, this.deps.clock(), files);
  }
}
