import type { AlertChannel, AlertPriority } from './alert-types.js';
import type { Language } from '../core/domain.js';

/**
 * The texts of alert nudges, in the recipient's language. PHI-free by construction: they are built
 * only from the priority, the alert's summary (checked PHI-free when the alert was raised), the
 * organisation's name, the link to the alert (an id, no token: the details need a sign-in) and the
 * reply code. Nothing else of the alert (details, patient) is ever passed in.
 */
export interface NudgeInput {
  alertId: string;
  notificationId: string;
  priority: AlertPriority;
  summary: string;
  language: Language;
  organisationName: string;
  publicUrl: string;
  replyCode: number | null;
}

export interface NudgeText {
  subject?: string;
  text: string;
  link: string;
}

/** Longest text a pager gets (alphanumeric pagers show 240 characters or fewer). */
export const PAGER_MAX = 240;

const WORDS = {
  en: {
    priority: { high: 'HIGH', medium: 'Medium', low: 'Low' },
    alert: 'priority alert',
    details: 'Details',
    reply: (c: number) => `Reply ${c} to acknowledge, ${c}D to pass it on.`,
    open: 'Open the alert (sign-in required)',
    footer: 'Replies to this e-mail are not read.',
  },
  es: {
    priority: { high: 'ALTA', medium: 'Media', low: 'Baja' },
    alert: 'alerta de prioridad',
    details: 'Detalles',
    reply: (c: number) => `Responda ${c} para confirmar, ${c}D para pasarla.`,
    open: 'Abra la alerta (requiere iniciar sesión)',
    footer: 'Las respuestas a este correo no se leen.',
  },
} as const;

export function alertLink(publicUrl: string, alertId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/alerts/${encodeURIComponent(alertId)}`;
}

/** The nudge for one channel. */
export function renderNudge(channel: AlertChannel, n: NudgeInput): NudgeText {
  const w = WORDS[n.language] ?? WORDS.en;
  const link = alertLink(n.publicUrl, n.alertId);
  const level = w.priority[n.priority];
  const head =
    n.language === 'es' ? `[${n.organisationName}] Alerta ${level}` : `[${n.organisationName}] ${level} ${w.alert}`;
  switch (channel) {
    case 'sms': {
      const reply = n.replyCode !== null ? ` ${w.reply(n.replyCode)}` : '';
      return { text: `${head}: ${n.summary}. ${w.details}: ${link}${reply}`, link };
    }
    case 'email':
      return {
        subject: `${head}: ${n.summary}`,
        text: `${head}\n\n${n.summary}\n\n${w.open}: ${link}\n\n${w.footer}\n`,
        link,
      };
    case 'webhook':
      return {
        subject: `${head}: ${n.summary}`,
        text: JSON.stringify({
          type: 'sealpost.alert',
          alertId: n.alertId,
          notificationId: n.notificationId,
          priority: n.priority,
          summary: n.summary,
          link,
        }),
        link,
      };
    case 'paging': {
      const tail = ` ${link}${n.replyCode !== null ? ` R${n.replyCode}` : ''}`;
      const front = `${level}: `;
      const room = PAGER_MAX - front.length - tail.length;
      // Pagers take printable ASCII: the cut is marked with three dots, not an ellipsis character.
      const summary = n.summary.length > room ? `${n.summary.slice(0, Math.max(0, room - 3))}...` : n.summary;
      return { text: `${front}${summary}${tail}`.slice(0, PAGER_MAX), link };
    }
  }
}

/** The short PHI-free answer to an SMS reply. */
export function replyConfirmation(
  language: Language,
  outcome: 'acknowledged' | 'declined' | 'closed' | 'unknown',
  code: string,
): string {
  if (language === 'es') {
    if (outcome === 'acknowledged') return `Alerta ${code} confirmada. Gracias.`;
    if (outcome === 'declined') return `Alerta ${code} pasada al siguiente responsable.`;
    if (outcome === 'closed') return `La alerta ${code} ya está cerrada.`;
    return `No se pudo registrar la respuesta ${code}; abra la alerta desde el enlace.`;
  }
  if (outcome === 'acknowledged') return `Alert ${code} acknowledged. Thank you.`;
  if (outcome === 'declined') return `Alert ${code} passed on to the next responder.`;
  if (outcome === 'closed') return `Alert ${code} is already closed.`;
  return `Your reply ${code} could not be recorded; please open the alert from its link.`;
}
