import type { TemplateDef } from '../template-registry.js';
import { NUDGES } from './nudges.js';

export const PRESCRIPTION_READY: TemplateDef = {
  type: 'prescription_ready',
  // The medication is PHI; so is the pharmacy, which locates the patient and their care.
  variables: [
    { name: 'medicationName', kind: 'string', required: true, phi: true },
    { name: 'pharmacyName', kind: 'string', required: true, phi: true },
    { name: 'pharmacyAddress', kind: 'string', required: false, phi: true },
    { name: 'pickupBy', kind: 'date', required: false, phi: true },
    { name: 'instructions', kind: 'string', required: false, phi: true },
  ],
  locales: {
    en: {
      secure: {
        title: 'Your prescription is ready: {{medicationName}}',
        body: [
          'Your prescription is ready for pickup.',
          '',
          'Medication: {{medicationName}}',
          'Pharmacy: {{pharmacyName}}',
          'Address: {{pharmacyAddress}}',
          'Please pick it up by {{pickupBy}}.',
          '',
          '{{instructions}}',
          '',
          'If you have questions about this prescription, please contact {{organisation}}.',
        ].join('\n'),
      },
      nudge: NUDGES.en,
    },
    es: {
      secure: {
        title: 'Su receta está lista: {{medicationName}}',
        body: [
          'Su receta está lista para recoger.',
          '',
          'Medicamento: {{medicationName}}',
          'Farmacia: {{pharmacyName}}',
          'Dirección: {{pharmacyAddress}}',
          'Recójala a más tardar el {{pickupBy}}.',
          '',
          '{{instructions}}',
          '',
          'Si tiene preguntas sobre esta receta, comuníquese con {{organisation}}.',
        ].join('\n'),
      },
      nudge: NUDGES.es,
    },
  },
};
