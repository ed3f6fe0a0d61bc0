import type { TemplateDef } from '../template-registry.js';
import { NUDGES } from './nudges.js';

export const BILLING_STATEMENT: TemplateDef = {
  type: 'billing_statement',
  // Payment for care is PHI under HIPAA, and a statement/account number is a listed identifier.
  // The optional `currency` data key (ISO 4217, default USD) is not a placeholder: it formats `amount`.
  variables: [
    { name: 'amount', kind: 'money', required: true, phi: true },
    { name: 'dueDate', kind: 'date', required: true, phi: true },
    { name: 'statementId', kind: 'string', required: true, phi: true },
  ],
  locales: {
    en: {
      secure: {
        title: 'Your statement from {{organisation}}',
        body: [
          'You have a new statement from {{organisation}}.',
          '',
          'Statement number: {{statementId}}',
          'Amount due: {{amount}}',
          'Due date: {{dueDate}}',
          '',
          'If you have questions about this statement, please contact the billing office of {{organisation}}.',
        ].join('\n'),
      },
      nudge: NUDGES.en,
    },
    es: {
      secure: {
        title: 'Su estado de cuenta de {{organisation}}',
        body: [
          'Tiene un nuevo estado de cuenta de {{organisation}}.',
          '',
          'Número de estado de cuenta: {{statementId}}',
          'Importe a pagar: {{amount}}',
          'Fecha de vencimiento: {{dueDate}}',
          '',
          'Si tiene preguntas sobre este estado de cuenta, comuníquese con el departamento de facturación de {{organisation}}.',
        ].join('\n'),
      },
      nudge: NUDGES.es,
    },
  },
};
