import { describe, expect, it } from 'vitest';
import { PAGER_MAX, renderNudge, replyConfirmation, type NudgeInput } from './alert-nudge.js';
import { ALERT_CHANNELS } from './alert-types.js';

const base: NudgeInput = {
  alertId: 'a-1',
  notificationId: 'n-1',
  priority: 'high',
  summary: 'Critical lab result',
  language: 'en',
  organisationName: 'General Hospital',
  publicUrl: 'https://sealpost.example/',
  replyCode: 3,
};

describe('alert nudge texts', () => {
  it('say the priority, summary, organisation and link, and the reply code on SMS', () => {
    expect(renderNudge('sms', base).text).toBe(
      '[General Hospital] HIGH priority alert: Critical lab result. Details: https://sealpost.example/alerts/a-1 Reply 3 to acknowledge, 3D to pass it on.',
    );
    expect(renderNudge('sms', { ...base, language: 'es', priority: 'low' }).text).toBe(
      '[General Hospital] Alerta Baja: Critical lab result. Detalles: https://sealpost.example/alerts/a-1 Responda 3 para confirmar, 3D para pasarla.',
    );
    const mail = renderNudge('email', { ...base, replyCode: null });
    expect(mail.subject).toBe('[General Hospital] HIGH priority alert: Critical lab result');
    expect(mail.text).not.toMatch(/Reply \d/);
    expect(JSON.parse(renderNudge('webhook', base).text)).toEqual({
      type: 'sealpost.alert',
      alertId: 'a-1',
      notificationId: 'n-1',
      priority: 'high',
      summary: 'Critical lab result',
      link: 'https://sealpost.example/alerts/a-1',
    });
  });

  it('keeps a page within 240 printable ASCII characters, link and code kept whole', () => {
    const page = renderNudge('paging', { ...base, summary: 'x'.repeat(400) }).text;
    expect(page.length).toBeLessThanOrEqual(PAGER_MAX);
    expect(page).toMatch(/^HIGH: x+\.\.\. https:\/\/sealpost\.example\/alerts\/a-1 R3$/);
    expect(page).toMatch(/^[\x20-\x7E]+$/);
  });

  it('carry nothing but what they are given (every channel, both languages)', () => {
    for (const channel of ALERT_CHANNELS)
      for (const language of ['en', 'es'] as const) {
        const n = renderNudge(channel, { ...base, language });
        expect(`${n.subject ?? ''} ${n.text}`).not.toMatch(/undefined|null|\[object/);
      }
    expect(replyConfirmation('en', 'closed', '2')).toBe('Alert 2 is already closed.');
    expect(replyConfirmation('es', 'acknowledged', '1')).toBe('Alerta 1 confirmada. Gracias.');
  });
});
