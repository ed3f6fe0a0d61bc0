import { lazy } from 'react';
import type { ScreenDef } from '../../app/screens';

/** People and access: staff users and their sessions, API keys, SMART clients, break-glass and security alerts. */
export const screen: ScreenDef = {
  path: 'people',
  order: 40,
  labelKey: 'people.nav',
  anyOf: ['user.manage', 'apikey.manage', 'client.manage', 'securityalert.read'],
  Component: lazy(() => import('./PeopleScreen')),
};
