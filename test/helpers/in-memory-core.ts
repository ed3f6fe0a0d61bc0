import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../../src/crypto/envelope-cipher.js';
import { TemplateRegistry } from '../../src/core/templates/template-registry.js';
import { loadConfig } from '../../src/config/load-config.js';
import { PatientService, type PatientInput } from '../../src/core/patient-service.js';
import type { CoreDeps, RequestContext } from '../../src/core/context.js';
import { samplePatient } from './sample-patient.js';
import type { ChannelKind } from '../../src/core/domain.js';
import type { Channel, OutboundMessage, SendResult } from '../../src/channels/channel.js';
import { inMemoryStore, type InMemoryStore } from './in-memory-store.js';
import { AppError } from '../../src/core/errors.js';

/** Planted in PHI fields; it must never surface in audit entries, plaintext columns, logs or nudges. */
export const PHI_MARKER = 'PHI-MARKER-c41e9';

/** 10:00 in New York, outside the default quiet hours (21:00-08:00). */
export const DAYTIME = Date.parse('2030-01-15T15:00:00Z');

export interface CoreFixture {
  deps: CoreDeps;
  store: InMemoryStore;
  ctx: RequestContext;
  /** Moves the injected clock. */
  setNow(ms: number): void;
  now(): number;
  /** How many times core asked for the local worker to be woken. */
  wakes(): number;
  /** Registers a patient through the real PatientService (so contact points are sealed as in production). */
  addPatient(id: string, over?: Partial<PatientInput>): Promise<void>;
}

/**
 * Core dependencies as the application builds them (a real envelope cipher over a local keyring in a
 * temporary directory, the built-in templates, validated configuration) over an in-memory store.
 */
export function coreFixture(env: Record<string, string> = {}): CoreFixture & { cleanup(): void } {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-unit-'));
  const config = loadConfig({
    SEALPOST_DATA_DIR: dataDir,
    SEALPOST_PUBLIC_URL: 'https://sealpost.example.test',
    SEALPOST_QUIET_HOURS: '21:00-08:00',
    SEALPOST_MAX_ATTEMPTS: '3',
    // Like quiet hours: frequency caps, deduplication and digests change which nudges leave; tests of them turn them on.
    SEALPOST_FREQUENCY_CAPS: 'off',
    SEALPOST_DEDUP_WINDOW: 'off',
    SEALPOST_DIGEST_WINDOW: 'off',
    ...env,
  });
  const { keyring } = LocalKeyring.openOrCreate(join(dataDir, 'keyring.json'));
  const store = inMemoryStore();
  let now = DAYTIME;
  let wakes = 0;
  const deps: CoreDeps = {
    config,
    store,
    cipher: new EnvelopeCipher(keyring),
    templates: TemplateRegistry.load(),
    clock: () => new Date(now),
    newId: uuidv7,
    wake: () => void wakes++,
    signing: { signer: () => keyring.signer(), publishedKeys: () => keyring.publishedSigningKeys() },
  };
  const ctx: RequestContext = { tenantId: 'default', actor: 'api-key:unit', requestId: 'req-1' };
  const patients = new PatientService(deps);
  return {
    deps,
    store,
    ctx,
    setNow: (ms) => void (now = ms),
    now: () => now,
    wakes: () => wakes,
    async addPatient(id, over = {}) {
      await patients.upsert(
        ctx,
        id,
        samplePatient({ name: { given: ['Ana'], family: `Lopez ${PHI_MARKER}` }, ...over }) as PatientInput,
      );
    },
    cleanup: () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

export type Behaviour = (m: OutboundMessage) => Promise<SendResult>;

/**
 * A channel that records what reaches it and answers as told: per recipient, else the next queued
 * behaviour, else accepted with a provider id.
 */
export class FakeChannel implements Channel {
  readonly provider: string;
  readonly sent: OutboundMessage[] = [];
  private readonly queued: Behaviour[] = [];
  private readonly byRecipient = new Map<string, Behaviour>();

  constructor(readonly kind: ChannelKind) {
    this.provider = `fake-${kind}`;
  }

  /** The next sends behave like these, in order. */
  willAnswer(...behaviours: Behaviour[]): this {
    this.queued.push(...behaviours);
    return this;
  }

  /** Every send to `to` behaves like this. */
  willAnswerTo(to: string, behaviour: Behaviour): this {
    this.byRecipient.set(to, behaviour);
    return this;
  }

  async send(m: OutboundMessage): Promise<SendResult> {
    this.sent.push(m);
    const behaviour = this.byRecipient.get(m.to) ?? this.queued.shift();
    return behaviour ? behaviour(m) : { status: 'sent', providerMessageId: `pm-${m.deliveryId}` };
  }
}

export const fakeChannels = () => ({
  sms: new FakeChannel('sms'),
  email: new FakeChannel('email'),
  webhook: new FakeChannel('webhook'),
  push: new FakeChannel('push'),
});

/** The AppError a refused command threw (anything else is rethrown; a success fails the test). */
export async function refusal(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('expected a refusal, the command succeeded');
}
