import { describe, expect, it } from 'vitest';
import { LANGUAGES, NOTIFICATION_TYPES } from '../domain.js';
import { BUILT_IN_TEMPLATES } from './built-in-templates.js';
import { TemplateRegistry } from './template-registry.js';
import type { NudgePart } from './template-registry.js';
import { FULL_DATA, PHI_MARKER, appErrorOf, builtInCopy, ctx, editedBuiltIns } from './template-test-fixtures.js';

const NUDGE_TEXT_PARTS = ['emailSubject', 'email', 'sms', 'webhook', 'push'] as const;
const NUDGE_PARTS: NudgePart[] = ['sms', 'email', 'webhook', 'push'];

describe('TemplateRegistry.load', () => {
  it('accepts the built-in templates, which cover every type in every language', () => {
    const registry = TemplateRegistry.load();
    for (const type of NOTIFICATION_TYPES) expect(registry.variables(type).length).toBeGreaterThan(0);
    expect(BUILT_IN_TEMPLATES.map((d) => d.type).sort()).toEqual([...NOTIFICATION_TYPES].sort());
  });

  it.each(NUDGE_TEXT_PARTS)('rejects a nudge %s that uses a PHI variable and names the variable', (part) => {
    const defs = editedBuiltIns('test_result_ready', (d) => {
      d.locales.es.nudge[part] += ' {{testName}}';
    });
    const e = appErrorOf(() => TemplateRegistry.load(defs));
    expect(e.code).toBe('SP_TEMPLATE_PHI_IN_NUDGE');
    expect(e.detail).toBe(`test_result_ready/es/nudge.${part} uses testName`);
  });

  it('rejects a nudge that uses a declared non-PHI variable, since nudges are rendered without data', () => {
    const defs = editedBuiltIns('follow_up', (d) => {
      d.variables.push({ name: 'clinicName', kind: 'string', required: true, phi: false });
      d.locales.en.secure.body += '\n{{clinicName}}';
      d.locales.es.secure.body += '\n{{clinicName}}';
      d.locales.en.nudge.sms += ' {{clinicName}}';
    });
    const e = appErrorOf(() => TemplateRegistry.load(defs));
    expect(e.code).toBe('SP_TEMPLATE_INVALID');
    expect(e.detail).toMatch(/^follow_up\/en\/nudge\.sms: .*clinicName/);
  });

  it.each(['email', 'sms', 'webhook'] as const)('rejects a nudge %s without {{link}}', (part) => {
    const defs = editedBuiltIns('billing_statement', (d) => {
      d.locales.en.nudge[part] = d.locales.en.nudge[part].replace('{{link}}', 'our portal');
    });
    const e = appErrorOf(() => TemplateRegistry.load(defs));
    expect(e.code).toBe('SP_TEMPLATE_INVALID');
    expect(e.detail).toBe(`billing_statement/en/nudge.${part}: must contain {{link}}`);
  });

  it('rejects a push title that carries {{link}} or a second line', () => {
    const withLink = editedBuiltIns('follow_up', (d) => {
      d.locales.en.nudge.push += ' {{link}}';
    });
    expect(appErrorOf(() => TemplateRegistry.load(withLink)).detail).toBe(
      'follow_up/en/nudge.push: must not carry {{link}}',
    );
    const twoLines = editedBuiltIns('follow_up', (d) => {
      d.locales.es.nudge.push += '\nsecond';
    });
    expect(appErrorOf(() => TemplateRegistry.load(twoLines)).detail).toBe(
      'follow_up/es/nudge.push: must be a single line',
    );
  });

  it('rejects an unknown placeholder in a secure template', () => {
    const defs = editedBuiltIns('follow_up', (d) => {
      d.locales.es.secure.body += '\nDiagnóstico: {{diagnosis}}';
    });
    const e = appErrorOf(() => TemplateRegistry.load(defs));
    expect(e.code).toBe('SP_TEMPLATE_INVALID');
    expect(e.detail).toBe('follow_up/es/secure.body: unknown variable diagnosis');
  });

  it('rejects an unknown placeholder in a nudge', () => {
    const defs = editedBuiltIns('appointment_reminder', (d) => {
      d.locales.en.nudge.emailSubject = '{{patientName}}, new message from {{organisation}}';
    });
    expect(appErrorOf(() => TemplateRegistry.load(defs)).detail).toBe(
      'appointment_reminder/en/nudge.emailSubject: unknown variable patientName',
    );
  });

  it('rejects a malformed placeholder instead of sending its raw braces', () => {
    const defs = editedBuiltIns('follow_up', (d) => {
      d.locales.en.secure.body += '\nReason: {{ reason }';
    });
    expect(appErrorOf(() => TemplateRegistry.load(defs)).detail).toBe(
      'follow_up/en/secure.body: malformed placeholder',
    );
  });

  it('rejects a template set that lacks a notification type', () => {
    const defs = builtInCopy().filter((d) => d.type !== 'prescription_ready');
    const e = appErrorOf(() => TemplateRegistry.load(defs));
    expect(e.code).toBe('SP_TEMPLATE_INVALID');
    expect(e.detail).toBe('prescription_ready: missing');
  });

  it('rejects a template that lacks a language', () => {
    const defs = editedBuiltIns('medication_reminder', (d) => {
      delete (d.locales as Partial<typeof d.locales>).es;
    });
    expect(appErrorOf(() => TemplateRegistry.load(defs)).detail).toBe('medication_reminder/es: missing');
  });

  it('rejects a type defined twice', () => {
    const defs = builtInCopy();
    defs.push(builtInCopy()[0]);
    expect(appErrorOf(() => TemplateRegistry.load(defs)).detail).toBe('appointment_reminder: defined twice');
  });

  it('rejects a declared variable that one language never renders', () => {
    const defs = editedBuiltIns('appointment_reminder', (d) => {
      d.locales.es.secure.body = d.locales.es.secure.body.replace('Dónde: {{location}}\n', '');
    });
    expect(appErrorOf(() => TemplateRegistry.load(defs)).detail).toBe(
      'appointment_reminder/es/secure: never uses variable location',
    );
  });

  it('rejects a variable that shadows a built-in variable', () => {
    const defs = editedBuiltIns('follow_up', (d) => {
      d.variables.push({ name: 'link', kind: 'string', required: false, phi: true });
    });
    expect(appErrorOf(() => TemplateRegistry.load(defs)).detail).toBe('follow_up: variable link is reserved');
  });

  it('rejects an optional variable in a title, which would leave the title empty', () => {
    const defs = editedBuiltIns('appointment_reminder', (d) => {
      d.locales.en.secure.title = 'Appointment at {{location}}';
    });
    expect(appErrorOf(() => TemplateRegistry.load(defs)).detail).toBe(
      'appointment_reminder/en/secure.title: uses optional variable location',
    );
  });

  it('keeps the validated templates when the caller mutates its definitions after load', () => {
    const defs = builtInCopy();
    const registry = TemplateRegistry.load(defs);
    defs[0].locales.en.nudge.sms = 'Your appointment is at {{start}} {{link}}';
    expect(registry.renderNudge(defs[0].type, 'sms', ctx('en')).text).toMatch(/^You have a new secure message/);
  });
});

describe('TemplateRegistry.renderSecure', () => {
  const registry = TemplateRegistry.load();
  const appointment = { start: '2026-03-03T14:30:00Z', location: 'Room 4', clinicianName: 'Dr. Ana Ruiz' };

  it('renders an appointment in English with the time in the patient zone', () => {
    const out = registry.renderSecure('appointment_reminder', appointment, ctx('en'));
    expect(out.title).toBe('Appointment reminder: Tuesday, 3 March 2026 at 09:30 (America/New_York)');
    expect(out.body).toContain('When: Tuesday, 3 March 2026 at 09:30 (America/New_York)\n');
    expect(out.body).toContain('Where: Room 4\nWith: Dr. Ana Ruiz');
    expect(out.body).toContain('please contact Riverside Family Health.');
  });

  it('renders an appointment in Spanish with Spanish day and month names', () => {
    const out = registry.renderSecure('appointment_reminder', appointment, ctx('es'));
    expect(out.title).toBe('Recordatorio de cita: martes, 3 de marzo de 2026, 09:30 (America/New_York)');
    expect(out.body).toContain('Dónde: Room 4\nCon: Dr. Ana Ruiz');
  });

  it('shows the same instant in each patient zone, whatever offset the sender used', () => {
    const sentWithOffset = { start: '2026-03-03T09:30:00-05:00' };
    expect(
      registry.renderSecure('appointment_reminder', sentWithOffset, ctx('en', { timeZone: 'Europe/Madrid' })).title,
    ).toBe('Appointment reminder: Tuesday, 3 March 2026 at 15:30 (Europe/Madrid)');
    expect(
      registry.renderSecure('appointment_reminder', sentWithOffset, ctx('en', { timeZone: 'Asia/Tokyo' })).title,
    ).toBe('Appointment reminder: Tuesday, 3 March 2026 at 23:30 (Asia/Tokyo)');
  });

  it('renders a calendar date as the same day in every zone', () => {
    const data = { reason: 'Check-up', dueDate: '2026-04-01' };
    const out = registry.renderSecure('follow_up', data, ctx('en', { timeZone: 'Pacific/Honolulu' }));
    expect(out.body).toContain('Please schedule it by Wednesday, 1 April 2026.');
  });

  it('drops the lines of unset optional variables and leaves no gaps', () => {
    const out = registry.renderSecure('appointment_reminder', { start: '2026-03-03T14:30:00Z' }, ctx('en'));
    expect(out.body).not.toMatch(/Ends:|Where:|With:|Before your visit:/);
    expect(out.body).not.toContain('\n\n\n');
    expect(out.body).toContain('When: Tuesday, 3 March 2026 at 09:30 (America/New_York)\n\nIf you need to change');
  });

  it('formats money per language in the requested currency, defaulting to US dollars', () => {
    const data = { amount: '1234.5', dueDate: '2026-04-01', statementId: 'ST-1' };
    expect(registry.renderSecure('billing_statement', data, ctx('en')).body).toContain('Amount due: $1,234.50');
    const eur = { ...data, currency: 'EUR' };
    expect(registry.renderSecure('billing_statement', eur, ctx('es')).body).toMatch(/Importe a pagar: 1234,50\s€/);
  });

  it('inserts values literally without expanding placeholders inside them', () => {
    const data = { reason: 'See {{link}} and {{organisation}}', dueDate: '2026-04-01' };
    expect(registry.renderSecure('follow_up', data, ctx('en')).body).toContain(
      'Reason: See {{link}} and {{organisation}}',
    );
  });

  it('validates the data it renders', () => {
    const e = appErrorOf(() => registry.renderSecure('follow_up', { reason: 'x' }, ctx('en')));
    expect(e.code).toBe('SP_NOTIFICATION_INVALID_DATA');
    expect(e.detail).toBe('data.dueDate: is required');
  });

  it('rejects a render context with an unknown time zone', () => {
    const e = appErrorOf(() =>
      registry.renderSecure('follow_up', FULL_DATA.follow_up, ctx('en', { timeZone: 'Mars/Olympus' })),
    );
    expect(e.code).toBe('SP_PATIENT_INVALID_TIMEZONE');
  });
});

describe('TemplateRegistry.renderNudge', () => {
  const registry = TemplateRegistry.load();

  it('gives an e-mail a subject and the link with its lifetime', () => {
    const out = registry.renderNudge('follow_up', 'email', ctx('en', { expiresHours: 1 }));
    expect(out.subject).toBe('New secure message from Riverside Family Health');
    expect(out.text).toContain('\nhttps://portal.example.test/l/Zq8xK2\n');
    expect(out.text).toContain('The link expires in 1 hour.');
    expect(registry.renderNudge('follow_up', 'email', ctx('es')).text).toContain('El enlace caduca en 24 horas.');
  });

  it('renders the SMS in the documented shape in both languages', () => {
    expect(registry.renderNudge('appointment_reminder', 'sms', ctx('en'))).toEqual({
      text: 'You have a new secure message from Riverside Family Health. View it at https://portal.example.test/l/Zq8xK2. Reply STOP to opt out.',
    });
    expect(registry.renderNudge('appointment_reminder', 'sms', ctx('es')).text).toBe(
      'Tiene un nuevo mensaje seguro de Riverside Family Health. Véalo en https://portal.example.test/l/Zq8xK2. Responda STOP para darse de baja.',
    );
  });

  it.each(LANGUAGES)('keeps the %s SMS within one GSM-7 segment, not counting the link', (language) => {
    const gsm7 = new Set(
      '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
    );
    const c = ctx(language, { organisation: 'Riverside Family Health Center' });
    const text = registry.renderNudge('billing_statement', 'sms', c).text.replace(c.link, '');
    expect([...text].filter((ch) => !gsm7.has(ch))).toEqual([]);
    expect(text.length).toBeLessThanOrEqual(160);
  });

  it.each(LANGUAGES)('does not reveal the notification type: every %s nudge is identical across types', (language) => {
    for (const part of NUDGE_PARTS) {
      const first = registry.renderNudge(NOTIFICATION_TYPES[0], part, ctx(language));
      for (const type of NOTIFICATION_TYPES) expect(registry.renderNudge(type, part, ctx(language))).toEqual(first);
    }
  });

  it('never lets a PHI value into any nudge of any type, language or part', () => {
    for (const type of NOTIFICATION_TYPES) {
      for (const language of LANGUAGES) {
        // The marker reaches secure output, so its absence below is not for lack of rendering it.
        const secure = registry.renderSecure(type, FULL_DATA[type], ctx(language));
        expect(`${secure.title}\n${secure.body}`).toContain(PHI_MARKER);
        for (const part of NUDGE_PARTS) {
          const out = registry.renderNudge(type, part, ctx(language));
          expect(`${out.subject ?? ''}\n${out.text}`).not.toContain(PHI_MARKER);
          // A push title carries no link: its payload is the title and the notification id only.
          if (part === 'push') expect(out.text).not.toContain(ctx(language).link);
          else expect(out.text).toContain(ctx(language).link);
        }
      }
    }
  });
});
