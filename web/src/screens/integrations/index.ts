import { lazy } from 'react';
import type { ScreenDef } from '../../app/screens';

/** HL7 v2 senders and error queue, FHIR Subscriptions and their delivery status. */
export const screen: ScreenDef = {
  path: 'integrations',
  order: 80,
  labelKey: 'integrations.nav',
  anyOf: ['hl7.manage', 'subscription.manage'],
  Component: lazy(() => import('./IntegrationsScreen')),
};
