import type { TemplateDef } from './template-registry.js';
import { APPOINTMENT_REMINDER } from './built-in/appointment-reminder.js';
import { BILLING_STATEMENT } from './built-in/billing-statement.js';
import { FOLLOW_UP } from './built-in/follow-up.js';
import { MEDICATION_REMINDER } from './built-in/medication-reminder.js';
import { PRESCRIPTION_READY } from './built-in/prescription-ready.js';
import { TEST_RESULT_READY } from './built-in/test-result-ready.js';

/**
 * The templates Sealpost ships with, one per NotificationType, in every supported language. All share
 * the same PHI-free nudge (built-in/nudges.ts); only the secure rendering differs by type.
 */
export const BUILT_IN_TEMPLATES: TemplateDef[] = [
  APPOINTMENT_REMINDER,
  TEST_RESULT_READY,
  MEDICATION_REMINDER,
  PRESCRIPTION_READY,
  FOLLOW_UP,
  BILLING_STATEMENT,
];
