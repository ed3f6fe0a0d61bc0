import type { Migration, MigrationProvider } from 'kysely';
import * as m001 from './001-initial.js';
import * as m002 from './002-audit-log.js';
import * as m003 from './003-multi-node.js';
import * as m005 from './005-erasure.js';
import * as m006 from './006-signatures.js';
import * as m007 from './007-client-cert-binding.js';
import * as m008 from './008-identity.js';
import * as m009 from './009-audit-sequencing.js';
import * as m010 from './010-idempotency-key-hashes.js';
import * as m011 from './011-patient-identifiers.js';
import * as m014 from './014-fhir-subscriptions.js';
import * as m012 from './012-hl7.js';
import * as m013 from './013-fhir-communication.js';
import * as m017 from './017-on-call.js';
import * as m016 from './016-alert-notifications.js';
import * as m018 from './018-medical-devices.js';
import * as m019 from './019-device-registrations.js';
import * as m020 from './020-messaging-devices.js';
import * as m015 from './015-alerts.js';
import * as m021 from './021-conversations.js';
import * as m022 from './022-attachments.js';
import * as m023 from './023-consent-purposes.js';
import * as m025 from './025-preferences-caps.js';
import * as m024 from './024-patient-replies.js';
import * as m027 from './027-inbound-replay-erasure.js';
import * as m028 from './028-tenant-branding.js';
import * as m029 from './029-ops-delivery-index.js';
import * as m030 from './030-access-reviews.js';
import * as m031 from './031-privacy-monitoring.js';

/**
 * Migrations are versioned by name and compiled into the program (no file-system scan at run time).
 * Kysely applies them in name order; 004 was never used.
 */
export const migrationProvider: MigrationProvider = {
  async getMigrations(): Promise<Record<string, Migration>> {
    return {
      '001-initial': m001,
      '002-audit-log': m002,
      '003-multi-node': m003,
      '005-erasure': m005,
      '006-signatures': m006,
      '007-client-cert-binding': m007,
      '008-identity': m008,
      '009-audit-sequencing': m009,
      '010-idempotency-key-hashes': m010,
      '011-patient-identifiers': m011,
      '014-fhir-subscriptions': m014,
      '012-hl7': m012,
      '013-fhir-communication': m013,
      '017-on-call': m017,
      '016-alert-notifications': m016,
      '018-medical-devices': m018,
      '019-device-registrations': m019,
      '020-messaging-devices': m020,
      '015-alerts': m015,
      '021-conversations': m021,
      '022-attachments': m022,
      '023-consent-purposes': m023,
      '025-preferences-caps': m025,
      '024-patient-replies': m024,
      '027-inbound-replay-erasure': m027,
      '028-tenant-branding': m028,
      '029-ops-delivery-index': m029,
      '030-access-reviews': m030,
      '031-privacy-monitoring': m031,
    };
  },
};
