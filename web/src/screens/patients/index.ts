import { lazy } from 'react';
import type { ScreenDef } from '../../app/screens';

/** Patients: lookup by identifier, contact points masked until revealed, care team, consents and preferences, erasure. */
export const screen: ScreenDef = {
  path: 'patients',
  order: 30,
  labelKey: 'patients.nav',
  anyOf: ['patient.read', 'patient.erase', 'careteam.manage', 'consent.read'],
  Component: lazy(() => import('./PatientsScreen')),
};
