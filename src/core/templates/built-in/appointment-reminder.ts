import type { TemplateDef } from '../template-registry.js';
import { NUDGES } from './nudges.js';

export const APPOINTMENT_REMINDER: TemplateDef = {
  type: 'appointment_reminder',
  // A visit's time, place and clinician reveal that (and often why) a patient receives care: all PHI.
  variables: [
    { name: 'start', kind: 'datetime', required: true, phi: true },
    { name: 'end', kind: 'datetime', required: false, phi: true },
    { name: 'location', kind: 'string', required: false, phi: true },
    { name: 'clinicianName', kind: 'string', required: false, phi: true },
    { name: 'instructions', kind: 'string', required: false, phi: true },
  ],
  locales: {
    en: {
      secure: {
        title: 'Appointment reminder: {{start}}',
        body: [
          'This is a reminder of your appointment with {{organisation}}.',
          '',
          'When: {{start}}',
          'Ends: {{end}}',
          'Where: {{location}}',
          'With: {{clinicianName}}',
          '',
          'Before your visit: {{instructions}}',
          '',
          'If you need to change or cancel this appointment, please contact {{organisation}}.',
        ].join('\n'),
      },
      nudge: NUDGES.en,
    },
    es: {
      secure: {
        title: 'Recordatorio de cita: {{start}}',
        body: [
          'Le recordamos su cita con {{organisation}}.',
          '',
          'Cuándo: {{start}}',
          'Termina: {{end}}',
          'Dónde: {{location}}',
          'Con: {{clinicianName}}',
          '',
          'Antes de su cita: {{instructions}}',
          '',
          'Si necesita cambiar o cancelar esta cita, comuníquese con {{organisation}}.',
        ].join('\n'),
      },
      nudge: NUDGES.es,
    },
  },
};

/**
 * The question an appointment reminder's SMS nudge ends with, after the shared nudge: the tenant's
 * reply codes (core/patient-replies.ts, defaults C and N) fill `{{confirmCode}}` and `{{declineCode}}`.
 * PHI-free like the nudge: it says neither when nor where. GSM-7 only (no á, í, ó, ú).
 */
export const APPOINTMENT_REPLY_INVITATION: Record<'en' | 'es', string> = {
  en: 'Reply {{confirmCode}} to confirm, {{declineCode}} if you cannot come.',
  es: 'Responda {{confirmCode}} para confirmar, {{declineCode}} si no puede venir.',
};
