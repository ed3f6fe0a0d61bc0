import type { Command } from 'commander';
import { v7 as uuidv7 } from 'uuid';
import { loadConfig } from '../config/load-config.js';
import type { Config } from '../config/config.js';
import { openStore } from '../store/open-store.js';
import { openKeyProvider } from '../crypto/open-key-provider.js';
import { EnvelopeCipher } from '../crypto/envelope-cipher.js';
import { TemplateRegistry } from '../core/templates/template-registry.js';
import { SessionService, sessionPolicy } from '../auth/session-service.js';
import { LoginThrottle, throttlePolicy } from '../auth/throttle.js';
import { UserService } from '../auth/user-service.js';
import { AppError } from '../core/errors.js';
import type { RequestContext } from '../core/context.js';
import { DEFAULT_TENANT } from '../core/domain.js';
import { serverPublicUrl } from './installation.js';

/**
 * `sealpost users invite|list|unlock|disable`: staff users, for operators on the server host. `invite`
 * is how the first administrator of a fresh installation gets in: it prints the one-time enrolment
 * link, which they open to choose a password and enrol a second factor.
 */
export function usersCommand(program: Command): void {
  const cmd = program
    .command('users')
    .description('Staff users (people who sign in with a password and a second factor)');

  cmd
    .command('invite')
    .description(
      'Create an invited user and print their one-time enrolment link (valid SEALPOST_INVITE_TTL_HOURS), on the public URL the server recorded at its last start (SEALPOST_PUBLIC_URL, if set here, wins)',
    )
    .requiredOption('--email <address>', 'the e-mail address they sign in with')
    .requiredOption('--name <display name>', 'how they are shown')
    .requiredOption(
      '--roles <list>',
      'comma-separated: admin, physician, nurse, receptionist, billing, auditor, privacy_officer',
    )
    .option('--tenant <id>', 'tenant', DEFAULT_TENANT)
    .action(async (opts: { email: string; name: string; roles: string; tenant: string }) => {
      const roles = opts.roles
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      await withUsers(opts.tenant, async (users, ctx) => {
        const r = await users.invite(ctx, { email: opts.email, displayName: opts.name, roles });
        console.log(r.enrolmentUrl);
        console.error(`invited ${r.user.id} (${r.user.roles.join(', ')}); the link is shown once`);
      });
    });

  cmd
    .command('list')
    .description('List users (id, status, roles, e-mail)')
    .option('--tenant <id>', 'tenant', DEFAULT_TENANT)
    .option('--json', 'one JSON object per line')
    .action(async (opts: { tenant: string; json?: boolean }) => {
      await withUsers(opts.tenant, async (users, ctx) => {
        for (let cursor = ''; ;) {
          const page = await users.list(ctx.tenantId, cursor, 500);
          for (const u of page.items)
            console.log(
              opts.json ? JSON.stringify(u) : `${u.id}  ${u.status.padEnd(8)}  [${u.roles.join(' ')}]  ${u.email}`,
            );
          if (!page.nextCursor) break;
          cursor = page.nextCursor;
        }
      });
    });

  cmd
    .command('unlock <id>')
    .description('Unlock a user locked out after repeated failed sign-ins')
    .option('--tenant <id>', 'tenant', DEFAULT_TENANT)
    .action(async (id: string, opts: { tenant: string }) => {
      await withUsers(opts.tenant, async (users, ctx) => console.log(`${id}: ${(await users.unlock(ctx, id)).status}`));
    });

  cmd
    .command('disable <id>')
    .description('Disable a user; every session, device registration and push token of theirs ends at once')
    .option('--tenant <id>', 'tenant', DEFAULT_TENANT)
    .action(async (id: string, opts: { tenant: string }) => {
      await withUsers(opts.tenant, async (users, ctx) =>
        console.log(`${id}: ${(await users.disable(ctx, id)).status}`),
      );
    });
}

/** The user service over the configured database and keys, as the server builds it (actor `system:cli`). */
async function withUsers(
  tenantId: string,
  fn: (users: UserService, ctx: RequestContext) => Promise<void>,
): Promise<void> {
  const config: Config = loadConfig();
  const { provider: keyring } = await openKeyProvider(config.keys);
  const store = openStore(config.database, { sqliteDurability: 'full' });
  const cipher = new EnvelopeCipher(keyring, { max: 16, ttlMs: 60_000 });
  try {
    await store.migrate();
    const now = new Date();
    await store.read.tenants.ensure(DEFAULT_TENANT, config.organisationName, now.getTime());
    if (!(await store.read.tenants.exists(tenantId)))
      throw new AppError('SP_REQ_VALIDATION', '--tenant: no such tenant');
    const clock = () => new Date();
    // Links (the enrolment link) point where the server answers, not at this process's defaults.
    const linked: Config = { ...config, publicUrl: await serverPublicUrl(config, store, (l) => console.error(l)) };
    const sessions = new SessionService(store, sessionPolicy(config.identity), clock);
    const throttle = new LoginThrottle(store, throttlePolicy(config.identity));
    const core = {
      config: linked,
      store,
      cipher,
      templates: TemplateRegistry.load(),
      clock,
      newId: uuidv7,
      wake: () => {},
    };
    await fn(new UserService(core, sessions, throttle), { tenantId, actor: 'system:cli' });
  } finally {
    await store.close();
    cipher.clear();
    await keyring.close();
  }
}
