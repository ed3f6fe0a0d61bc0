import { lazy } from 'react';
import type { ScreenDef } from '../../app/screens';

/** The audit log: search, an entry with its proof checked here, checkpoints, disclosures, export. */
export const screen: ScreenDef = {
  path: 'audit',
  order: 50,
  labelKey: 'audit.nav',
  anyOf: ['audit.read', 'disclosure.read'],
  Component: lazy(() => import('./AuditScreen')),
};
