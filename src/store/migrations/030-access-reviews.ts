import type { Kysely } from 'kysely';
import { blob } from './column-types.js';

/**
 * Reviews of emergency access and closing notes of administrator alerts. A break-glass grant gets
 * one review (outcome `justified`/`unjustified`, by whom, when, a note); an alert is closed once,
 * with an optional note. Notes are free text that may name a patient, so they are stored sealed:
 * a grant's under its patient's data key (erasure shreds it with the reason), an alert's under the
 * tenant's `security-notes` data key.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('break_glass_grants').addColumn('reviewed_at', 'bigint').execute();
  await db.schema.alterTable('break_glass_grants').addColumn('reviewed_by', 'text').execute();
  await db.schema.alterTable('break_glass_grants').addColumn('review_outcome', 'text').execute();
  await db.schema.alterTable('break_glass_grants').addColumn('review_note_ct', blob(db)).execute();
  await db.schema.alterTable('admin_alerts').addColumn('closed_at', 'bigint').execute();
  await db.schema.alterTable('admin_alerts').addColumn('closed_by', 'text').execute();
  await db.schema.alterTable('admin_alerts').addColumn('close_note_ct', blob(db)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const c of ['reviewed_at', 'reviewed_by', 'review_outcome', 'review_note_ct'])
    await db.schema.alterTable('break_glass_grants').dropColumn(c).execute();
  for (const c of ['closed_at', 'closed_by', 'close_note_ct'])
    await db.schema.alterTable('admin_alerts').dropColumn(c).execute();
}
