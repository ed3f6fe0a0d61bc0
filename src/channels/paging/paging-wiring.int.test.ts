import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, migratedStore } from '../../../test/helpers/backends.js';
import type { TestDatabase } from '../../../test/helpers/backends.js';
import { startSnppServer } from '../../../test/helpers/snpp-server.js';
import { buildChannels } from '../../app/channels.js';
import { loadConfig } from '../../config/load-config.js';
import { openKeyProvider } from '../../crypto/open-key-provider.js';
import { outboxSealer } from '../dev-outbox/outbox-sealer.js';
import { openOutboxRow } from '../dev-outbox/dev-outbox-channel.js';
import type { OutboundMessage } from '../channel.js';

/**
 * How configuration picks the paging channel (src/app/channels.ts): SNPP when SEALPOST_PAGING_SNPP_URL
 * is set, the sealed dev outbox otherwise, like the patients' channels. SQLite only: the outbox itself
 * is covered on both backends elsewhere; this is about the choice.
 */
const page: OutboundMessage = {
  deliveryId: 'alt-ntf-0001',
  notificationId: 'alt-ntf-0001',
  tenantId: 'default',
  channel: 'paging',
  to: '5550147',
  text: 'HIGH alert 4-West: sign in to respond',
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function build(env: Record<string, string>) {
  const db: TestDatabase = await createTestDatabase('sqlite', { migrated: true });
  cleanups.push(() => db.drop());
  const config = loadConfig({ ...db.env, ...env });
  const store = await migratedStore(db);
  const { provider } = await openKeyProvider(config.keys);
  const sealer = outboxSealer(provider);
  const channels = buildChannels(config, store, sealer, 'webhook-secret', pino({ enabled: false }));
  cleanups.push(async () => void (await Promise.allSettled(Object.values(channels).map((c) => c.close?.()))));
  return { db, channels, sealer };
}

describe('paging channel wiring', () => {
  it('SEALPOST_PAGING_SNPP_URL set: pages go to the SNPP gateway, cut to SEALPOST_PAGING_MAX_CHARS', async () => {
    const gw = await startSnppServer();
    cleanups.push(() => gw.close());
    const { channels, db } = await build({
      SEALPOST_PAGING_SNPP_URL: `snpp://127.0.0.1:${gw.port}`,
      SEALPOST_PAGING_MAX_CHARS: '20',
    });

    expect(channels.paging).toMatchObject({ kind: 'paging', provider: 'snpp' });
    expect(await channels.paging.send(page)).toEqual({ status: 'sent' });
    expect(gw.pages).toEqual([
      { pagerId: '5550147', message: 'HIGH alert 4-West: s', secure: false, loginId: undefined },
    ]);
    expect(await db.query('select count(*) as n from dev_outbox')).toEqual([{ n: 0 }]);
  });

  it('unset: the dev outbox records the page (sealed), under channel paging', async () => {
    const { channels, db, sealer } = await build({});
    expect(channels.paging).toMatchObject({ kind: 'paging', provider: 'dev-outbox' });
    await channels.paging.send(page);

    const rows = await db.query<Parameters<typeof openOutboxRow>[0]>('select * from dev_outbox');
    expect(rows).toHaveLength(1);
    expect(openOutboxRow(rows[0]!, sealer)).toMatchObject({ channel: 'paging', recipient: '5550147', body: page.text });
  });
});
