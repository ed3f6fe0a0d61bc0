import { describe, expect, it } from 'vitest';
import type { ClientState } from 'ts-mls';
import {
  checkLeaves,
  checkRoster,
  newLeaves,
  senderMismatch,
  type RosterGuardDeps,
} from '../src/messaging/roster-guard.js';
import { DeviceVerificationError } from '../src/transparency/device-verifier.js';
import type { Person } from '../src/messaging/wire-types.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const key = (n: number) => new Uint8Array(32).fill(n);
const ident = (device: string, tenant = 'default') => utf8(`sealpost:v1:${tenant}:${device}`);

/** A ratchet tree of leaves (null: blank) with parent nodes between them, as ts-mls lays it out. */
function tree(...leaves: ({ identity: Uint8Array; key: Uint8Array } | null)[]): Pick<ClientState, 'ratchetTree'> {
  const nodes: unknown[] = [];
  leaves.forEach((l, i) => {
    if (i > 0) nodes.push(undefined);
    nodes.push(
      l && {
        nodeType: 'leaf',
        leaf: { credential: { credentialType: 'basic', identity: l.identity }, signaturePublicKey: l.key },
      },
    );
  });
  return { ratchetTree: nodes as ClientState['ratchetTree'] };
}

/** Fakes of what the check asks the client (our own port): devices → people, the roster, the server's key. */
function deps(opts: {
  devices: Record<string, Person>;
  roster: Person[];
  freshRoster?: Person[];
  externalKey?: Uint8Array;
}): RosterGuardDeps & { rosterCalls: boolean[] } {
  const rosterCalls: boolean[] = [];
  return {
    tenantId: 'default',
    rosterCalls,
    verify: async (deviceId) => {
      const person = opts.devices[deviceId];
      if (!person) throw new DeviceVerificationError(deviceId, 'not in the log');
      return { person };
    },
    roster: async (fresh) => {
      rosterCalls.push(fresh);
      return fresh ? (opts.freshRoster ?? opts.roster) : opts.roster;
    },
    isExternalSender: async (identity, k) =>
      new TextDecoder().decode(identity) === 'sealpost:v1:default:external-sender' ||
      (!!opts.externalKey && k.every((b, i) => b === opts.externalKey![i])),
  };
}

const ana: Person = { kind: 'user', id: 'ana' };
const ben: Person = { kind: 'user', id: 'ben' };
const eve: Person = { kind: 'user', id: 'eve' };

describe('the roster check of new MLS leaves', () => {
  it('finds the leaves a commit brings in: new places and changed identities or keys, not unchanged members', () => {
    const before = tree({ identity: ident('a1'), key: key(1) }, { identity: ident('b1'), key: key(2) });
    const after = tree(
      { identity: ident('a1'), key: key(1) },
      { identity: ident('b1'), key: key(9) },
      { identity: ident('c1'), key: key(3) },
    );
    expect(newLeaves(after, before).map((l) => new TextDecoder().decode(l.identity!))).toEqual([
      'sealpost:v1:default:b1',
      'sealpost:v1:default:c1',
    ]);
    expect(newLeaves(after)).toHaveLength(3);
  });

  it('accepts a commit that adds a verified device of a person on the roster', async () => {
    const d = deps({ devices: { a1: ana, b1: ben }, roster: [ana, ben] });
    const before = tree({ identity: ident('a1'), key: key(1) });
    const after = tree({ identity: ident('a1'), key: key(1) }, { identity: ident('b1'), key: key(2) });
    await expect(checkRoster(d, after, before)).resolves.toBeUndefined();
    expect(d.rosterCalls).toEqual([false]);
  });

  it('refuses a verified device of a person who is not on the roster, even after fetching the roster afresh', async () => {
    const d = deps({ devices: { a1: ana, e1: eve }, roster: [ana, ben] });
    const before = tree({ identity: ident('a1'), key: key(1) });
    const after = tree({ identity: ident('a1'), key: key(1) }, { identity: ident('e1'), key: key(5) });
    await expect(checkRoster(d, after, before)).rejects.toThrow(/not on the conversation’s roster/);
    expect(d.rosterCalls).toEqual([false, true]);
  });

  it('accepts a person the cached roster lacks once the fresh roster lists them (a member just added)', async () => {
    const d = deps({ devices: { a1: ana, b1: ben }, roster: [ana], freshRoster: [ana, ben] });
    await expect(checkRoster(d, tree({ identity: ident('b1'), key: key(2) }))).resolves.toBeUndefined();
    expect(d.rosterCalls).toEqual([false, true]);
  });

  it('refuses, at a join, a tree with any leaf of an outsider', async () => {
    const d = deps({ devices: { a1: ana, b1: ben, e1: eve }, roster: [ana, ben] });
    const joined = tree(
      { identity: ident('a1'), key: key(1) },
      { identity: ident('e1'), key: key(5) },
      { identity: ident('b1'), key: key(2) },
    );
    await expect(checkRoster(d, joined)).rejects.toBeInstanceOf(DeviceVerificationError);
  });

  it('refuses a leaf that carries the external sender’s identity or its signature key', async () => {
    const serverKey = key(7);
    const d = deps({ devices: { a1: ana }, roster: [ana], externalKey: serverKey });
    await expect(
      checkLeaves(d, [{ identity: utf8('sealpost:v1:default:external-sender'), signatureKey: key(8) }]),
    ).rejects.toThrow(/external sender key may not be a member/);
    await expect(checkLeaves(d, [{ identity: ident('a1'), signatureKey: serverKey }])).rejects.toThrow(
      /external sender key may not be a member/,
    );
  });

  it('refuses a device that fails key transparency, of another tenant, or without a device identity', async () => {
    const d = deps({ devices: { a1: ana }, roster: [ana] });
    await expect(checkLeaves(d, [{ identity: ident('ghost'), signatureKey: key(1) }])).rejects.toThrow(
      /not in the log/,
    );
    await expect(checkLeaves(d, [{ identity: ident('a1', 'other'), signatureKey: key(1) }])).rejects.toThrow(
      /no device of this tenant/,
    );
    await expect(checkLeaves(d, [{ identity: null, signatureKey: key(1) }])).rejects.toThrow(/no basic credential/);
  });

  it('refuses a server Add proposal of an outsider’s verified device and accepts one of a care-team member', async () => {
    // The committer checks each Add the server (external sender) proposes with checkLeaves.
    const nurse: Person = { kind: 'user', id: 'nurse' };
    const d = deps({ devices: { n1: nurse, e1: eve }, roster: [ana, nurse] });
    await expect(checkLeaves(d, [{ identity: ident('n1'), signatureKey: key(4) }])).resolves.toBeUndefined();
    await expect(checkLeaves(d, [{ identity: ident('e1'), signatureKey: key(5) }])).rejects.toThrow(
      /not on the conversation’s roster/,
    );
  });

  it('refuses a handshake whose sender the server names differently from the MLS sender', () => {
    const t = tree({ identity: ident('a1'), key: key(1) }, { identity: ident('b1'), key: key(2) }).ratchetTree;
    expect(senderMismatch(t, { senderType: 'member', leafIndex: 1 }, { deviceId: 'b1' })).toBeNull();
    expect(senderMismatch(t, { senderType: 'member', leafIndex: 1 }, { deviceId: 'a1' })).toMatch(/another sender/);
    expect(senderMismatch(t, { senderType: 'member', leafIndex: 0 }, { external: true })).toMatch(/another sender/);
    expect(senderMismatch(t, { senderType: 'external' }, { external: true })).toBeNull();
    expect(senderMismatch(t, { senderType: 'external' }, { deviceId: 'a1' })).toMatch(/names a device/);
    expect(senderMismatch(t, { senderType: 'new_member_commit' }, { deviceId: 'a1' })).toMatch(/not accepted/);
  });
});
