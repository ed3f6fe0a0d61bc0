/**
 * Two people converse from the command line through a running Sealpost, end to end encrypted.
 *
 *   # in two terminals, each with the person's bearer session token (POST /v1/auth/login):
 *   SEALPOST_URL=https://sealpost.example.org SEALPOST_TOKEN=… \
 *     node bin/run-ts.js sdk/examples/two-people.ts --keys ana.keys --to user:<ben's user id>
 *   SEALPOST_URL=… SEALPOST_TOKEN=… node bin/run-ts.js sdk/examples/two-people.ts --keys ben.keys
 *
 *   # a staff member opens a patient's care-team thread (patient record id; the care team and the
 *   # patient's accounts are its members, and it follows the care team from then on):
 *   SEALPOST_URL=… SEALPOST_TOKEN=… node bin/run-ts.js sdk/examples/two-people.ts --keys ana.keys --patient <patient id>
 *
 * Each run keeps its device keys in one passphrase-encrypted file (--keys; passphrase from
 * SEALPOST_KEYS_PASSPHRASE, asked on the terminal otherwise). The first person opens a direct
 * conversation with `--to` (or a patient's care-team thread with `--patient`, staff with access to the
 * patient only); the others see it arrive. Lines typed are sent; `/read` sends a read
 * receipt for the last message, `/recall` recalls your last message, `/quit` leaves. A server with
 * a private CA: NODE_EXTRA_CA_CERTS=ca.pem.
 */
import { createInterface } from 'node:readline/promises';
import { stdin, stdout, env, argv, exit } from 'node:process';
import { FileKeyStore } from '../src/node/file-key-store.js';
import { MessagingClient } from '../src/messaging/messaging-client.js';
import type { StoredMessage } from '../src/messaging/events.js';

function arg(name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i > 0 ? argv[i + 1] : undefined;
}

const url = env.SEALPOST_URL;
const token = env.SEALPOST_TOKEN;
if (!url || !token) {
  console.error('set SEALPOST_URL and SEALPOST_TOKEN (a session token of the person)');
  exit(2);
}
const rl = createInterface({ input: stdin, output: stdout });
const passphrase = env.SEALPOST_KEYS_PASSPHRASE ?? (await rl.question('Passphrase of the key file: '));
const keyStore = await FileKeyStore.open(arg('keys') ?? 'sealpost.keys', passphrase);
const client = await MessagingClient.open({ baseUrl: url, token, keyStore });
if (!client.device) await client.register(arg('name') ?? 'Command line', 'cli');
console.log(`device ${client.device!.deviceId} of ${client.device!.person.kind} ${client.device!.person.id}`);

let conversationId: string | null = null;
let lastSeen: StoredMessage | null = null;
let lastMine: StoredMessage | null = null;
const show = (m: StoredMessage) => {
  if (!conversationId) conversationId = m.conversationId;
  if (m.mine) lastMine = m;
  else lastSeen = m;
  const reply = m.replyTo ? ` (reply to #${m.replyTo})` : '';
  console.log(`#${m.seq} ${m.mine ? 'me' : `${m.sender.kind}:${m.sender.id}`}${reply}: ${m.body}`);
};
client.on('message', (m) => {
  if (!m.mine) show(m);
});
client.on('read', (r) => console.log(`(${r.reader.kind}:${r.reader.id} read up to #${r.seq})`));
client.on('recalled', (r) => console.log(`(#${r.seq} was recalled)`));
client.on('membership', (e) => {
  if (e.change === 'joined') {
    conversationId = e.conversationId;
    console.log(`joined conversation ${e.conversationId}`);
  }
});
client.on('device-refused', (e) => console.log(`! refused ${e.error.message}`));
client.on('error', (e) => console.log(`! ${e.error.message}`));

const to = arg('to');
const patientId = arg('patient');
if (patientId) {
  const c = await client.createConversation({ kind: 'patient', patientId });
  conversationId = c.id;
  console.log(`opened the care-team conversation ${c.id} (${c.members.length} members)`);
} else if (to) {
  const [kind, id] = to.split(':') as ['user' | 'patient', string];
  const c = await client.createConversation({ kind: 'direct', members: [{ kind, id }] });
  conversationId = c.id;
  console.log(`opened conversation ${c.id}`);
}
await client.connect();
for (const c of await client.conversations()) {
  conversationId ??= c.id;
  for (const m of await client.messages(c.id)) show(m);
}
console.log(conversationId ? 'type a message' : 'waiting for a conversation…');

for (;;) {
  const line = (await rl.question('')).trim();
  if (line === '/quit') break;
  if (!line) continue;
  if (!conversationId) {
    console.log('no conversation yet');
    continue;
  }
  try {
    if (line === '/read' && lastSeen) await client.markRead(conversationId, (lastSeen as StoredMessage).seq);
    else if (line === '/recall' && lastMine) await client.recall(conversationId, (lastMine as StoredMessage).seq);
    else show(await client.send(conversationId, line));
  } catch (e) {
    console.log(`! ${(e as Error).message}`);
  }
}
client.close();
rl.close();
