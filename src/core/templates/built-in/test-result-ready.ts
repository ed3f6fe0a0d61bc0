import type { TemplateDef } from '../template-registry.js';
import { NUDGES } from './nudges.js';

export const TEST_RESULT_READY: TemplateDef = {
  type: 'test_result_ready',
  // The name of a test alone can disclose a condition (HIV viral load, pregnancy test): PHI.
  variables: [
    { name: 'testName', kind: 'string', required: true, phi: true },
    { name: 'collectedOn', kind: 'date', required: false, phi: true },
    { name: 'orderingClinician', kind: 'string', required: false, phi: true },
    { name: 'instructions', kind: 'string', required: false, phi: true },
  ],
  locales: {
    en: {
      secure: {
        title: 'Your results are ready: {{testName}}',
        body: [
          'The results of your test are ready.',
          '',
          'Test: {{testName}}',
          'Sample collected on: {{collectedOn}}',
          'Ordered by: {{orderingClinician}}',
          '',
          'Log in to your {{organisation}} patient account to see your results.',
          '{{instructions}}',
          '',
          'If you have questions about your results, please contact {{organisation}}.',
        ].join('\n'),
      },
      nudge: NUDGES.en,
    },
    es: {
      secure: {
        title: 'Sus resultados están disponibles: {{testName}}',
        body: [
          'Los resultados de su prueba ya están disponibles.',
          '',
          'Prueba: {{testName}}',
          'Muestra tomada el: {{collectedOn}}',
          'Solicitada por: {{orderingClinician}}',
          '',
          'Inicie sesión en su cuenta de paciente de {{organisation}} para ver sus resultados.',
          '{{instructions}}',
          '',
          'Si tiene preguntas sobre sus resultados, comuníquese con {{organisation}}.',
        ].join('\n'),
      },
      nudge: NUDGES.es,
    },
  },
};
