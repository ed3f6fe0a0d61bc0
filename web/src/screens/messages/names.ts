import type { TFunction } from 'i18next';
import type { ConversationView } from '@sealpost/sdk/browser';
import type { Colleague } from './useMessaging';

/** A person's name from the staff directory (the conversation views carry ids only). */
export function nameOf(directory: Colleague[], id: string, meId: string, t: TFunction): string {
  if (id === meId) return t('messages.you');
  return directory.find((c) => c.id === id)?.displayName ?? t('messages.someone');
}

/** A conversation's title: the other members' names (the server's view has no subject, by design). */
export function titleOf(c: ConversationView, directory: Colleague[], meId: string, t: TFunction): string {
  const others = c.members.filter((p) => !(p.kind === 'user' && p.id === meId));
  const named = others.filter((p) => p.kind === 'user' && directory.some((d) => d.id === p.id));
  if (c.kind === 'patient') return t('messages.patientThread');
  if (named.length === 0) return t('messages.untitled');
  return named.map((p) => nameOf(directory, p.id, meId, t)).join(', ');
}
