import type { Language } from '../../domain.js';
import type { LocaleTemplates } from '../template-registry.js';

/**
 * The one nudge every notification type shares. It says neither what the message is about nor that it
 * is health-related beyond the sender's name: "your test results are ready" in an SMS is itself PHI.
 * Identical wording across types also means a reader of the SMS cannot tell the types apart.
 *
 * SMS text stays within the GSM-7 basic alphabet (é is in it; á, í, ó, ú are not and would switch the
 * whole message to UCS-2 with a 70-character segment).
 */
export const NUDGES: Record<Language, LocaleTemplates['nudge']> = {
  en: {
    emailSubject: 'New secure message from {{organisation}}',
    email: [
      'Hello,',
      '',
      'You have a new secure message from {{organisation}}.',
      '',
      'To read it, open this link and confirm your identity:',
      '{{link}}',
      '',
      'The link expires in {{expiresHours}}. For your privacy, this e-mail does not include the message itself.',
      '',
      'If you were not expecting this message, you can ignore this e-mail.',
    ].join('\n'),
    sms: 'You have a new secure message from {{organisation}}. View it at {{link}}. Reply STOP to opt out.',
    webhook: 'New secure message from {{organisation}}. View it at {{link}}.',
    push: 'New secure message from {{organisation}}',
  },
  es: {
    emailSubject: 'Nuevo mensaje seguro de {{organisation}}',
    email: [
      'Hola:',
      '',
      'Tiene un nuevo mensaje seguro de {{organisation}}.',
      '',
      'Para leerlo, abra este enlace y confirme su identidad:',
      '{{link}}',
      '',
      'El enlace caduca en {{expiresHours}}. Por su privacidad, este correo no incluye el contenido del mensaje.',
      '',
      'Si no esperaba este mensaje, puede ignorar este correo.',
    ].join('\n'),
    sms: 'Tiene un nuevo mensaje seguro de {{organisation}}. Véalo en {{link}}. Responda STOP para darse de baja.',
    webhook: 'Nuevo mensaje seguro de {{organisation}}. Véalo en {{link}}.',
    push: 'Nuevo mensaje seguro de {{organisation}}',
  },
};
