import type { TemplateDef } from '../template-registry.js';
import { NUDGES } from './nudges.js';

export const FOLLOW_UP: TemplateDef = {
  type: 'follow_up',
  // The reason for a follow-up is clinical; its due date and clinician are tied to it: all PHI.
  variables: [
    { name: 'reason', kind: 'string', required: true, phi: true },
    { name: 'dueDate', kind: 'date', required: true, phi: true },
    { name: 'clinicianName', kind: 'string', required: false, phi: true },
    { name: 'instructions', kind: 'string', required: false, phi: true },
  ],
  locales: {
    en: {
      secure: {
        title: 'Please schedule your follow-up with {{organisation}}',
        body: [
          '{{organisation}} would like you to schedule a follow-up visit.',
          '',
          'Reason: {{reason}}',
          'Clinician: {{clinicianName}}',
          'Please schedule it by {{dueDate}}.',
          '',
          '{{instructions}}',
          '',
          'To schedule your visit, please contact {{organisation}}.',
        ].join('\n'),
      },
      nudge: NUDGES.en,
    },
    es: {
      secure: {
        title: 'Programe su consulta de seguimiento con {{organisation}}',
        body: [
          '{{organisation}} le pide que programe una consulta de seguimiento.',
          '',
          'Motivo: {{reason}}',
          'Profesional de salud: {{clinicianName}}',
          'Prográmela a más tardar el {{dueDate}}.',
          '',
          '{{instructions}}',
          '',
          'Para programar su consulta, comuníquese con {{organisation}}.',
        ].join('\n'),
      },
      nudge: NUDGES.es,
    },
  },
};
