import type { TemplateDef } from '../template-registry.js';
import { NUDGES } from './nudges.js';

export const MEDICATION_REMINDER: TemplateDef = {
  type: 'medication_reminder',
  // A medication and its dose point straight at a diagnosis: PHI, and so is when it is taken.
  variables: [
    { name: 'medicationName', kind: 'string', required: true, phi: true },
    { name: 'dosage', kind: 'string', required: true, phi: true },
    { name: 'doseTime', kind: 'datetime', required: false, phi: true },
    { name: 'instructions', kind: 'string', required: false, phi: true },
  ],
  locales: {
    en: {
      secure: {
        title: 'Medication reminder: {{medicationName}}',
        body: [
          'This is a reminder to take your medication.',
          '',
          'Medication: {{medicationName}}',
          'Dose: {{dosage}}',
          'Scheduled for: {{doseTime}}',
          '',
          '{{instructions}}',
          '',
          'If you have questions about this medication, please contact {{organisation}}.',
        ].join('\n'),
      },
      nudge: NUDGES.en,
    },
    es: {
      secure: {
        title: 'Recordatorio de medicamento: {{medicationName}}',
        body: [
          'Le recordamos tomar su medicamento.',
          '',
          'Medicamento: {{medicationName}}',
          'Dosis: {{dosage}}',
          'Hora de la toma: {{doseTime}}',
          '',
          '{{instructions}}',
          '',
          'Si tiene preguntas sobre este medicamento, comuníquese con {{organisation}}.',
        ].join('\n'),
      },
      nudge: NUDGES.es,
    },
  },
};
