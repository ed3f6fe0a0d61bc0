import type { DeliveryRow } from '../store/repositories/delivery-repository.js';

/** What became of one claimed job (`lost-lease`: another worker or an erasure took it; nothing was written). */
export interface DeliveryOutcome {
  status: 'sent' | 'delivered' | 'retry' | 'failed' | 'dead' | 'deferred' | 'cancelled' | 'suppressed' | 'lost-lease';
  channel: string;
}

/** Jobs claimed (and prepared) under one lease, and how to finish them. */
export interface ClaimedBatch {
  readonly jobs: DeliveryRow[];
  /** Runs the jobs and records their outcomes; resolves with one outcome per job, in order. */
  finish(): Promise<DeliveryOutcome[]>;
}

/**
 * A delivery's state after one attempt, written back when the attempt ends. Carries every column
 * an attempt may change, fully (not a patch), so that a batch of different outcomes is one statement.
 */
export interface JobOutcome {
  id: string;
  status: string;
  run_at: number;
  attempts: number;
  last_error_code: string | null;
  provider: string | null;
  provider_message_id: string | null;
  sent_at: number | null;
  delivered_at: number | null;
  failed_at: number | null;
  cancelled_at: number | null;
}

/** The columns of `row` an outcome carries, unchanged, as the starting point of an outcome. */
export function outcomeOf(row: DeliveryRow): JobOutcome {
  const {
    id,
    status,
    run_at,
    attempts,
    last_error_code,
    provider,
    provider_message_id,
    sent_at,
    delivered_at,
    failed_at,
    cancelled_at,
  } = row;
  return {
    id,
    status,
    run_at,
    attempts,
    last_error_code,
    provider,
    provider_message_id,
    sent_at,
    delivered_at,
    failed_at,
    cancelled_at,
  };
}

/**
 * One claim's lease: the worker (`owner`) and the `lease_until` the claim set. A write conditional
 * on both belongs to that very claim: a batch whose lease expired and whose job was claimed again,
 * even by the same worker, changes nothing.
 */
export interface Lease {
  owner: string;
  until: number;
}

/**
 * The durable job queue over the `deliveries` table: jobs are due when `status` is scheduled or
 * queued and `run_at` has come; a claim leases them to one worker (status `sending`,
 * `lease_owner`, `lease_until`). Every write of an attempt's result is conditional on the lease, so
 * a worker that lost its lease (expired, or the delivery was cancelled or erased) changes nothing.
 */
export interface JobQueue {
  /**
   * Claims up to `limit` due jobs, oldest `run_at` first, for `owner` until `leaseUntil`, and counts
   * the attempt. A job is handed to at most one live lease at a time; on PostgreSQL concurrent
   * claims skip each other's rows instead of waiting.
   */
  claim(owner: string, now: number, leaseUntil: number, limit: number): Promise<DeliveryRow[]>;
  /** Returns jobs whose worker died (lease expired while `sending`) to the queue; resolves with how many. */
  releaseExpired(now: number): Promise<number>;
  /** The earliest `run_at` of a waiting job, or null when none waits. */
  nextRunAt(): Promise<number | null>;
  /** Number of jobs by status and channel (metrics). */
  countByStatus(): Promise<{ status: string; channel: string; n: number }[]>;
  /**
   * Stores each job's sealed portal link while `lease` holds it; resolves with the ids whose lease
   * was held (the others changed nothing).
   */
  setLinks(lease: Lease, links: readonly { id: string; link_ct: Uint8Array }[]): Promise<Set<string>>;
  /**
   * Writes each job's outcome and releases its lease, only where `lease` still holds it (one
   * statement per batch on PostgreSQL). Resolves with the ids written; the others changed nothing.
   */
  finish(lease: Lease, now: number, outcomes: readonly JobOutcome[]): Promise<Set<string>>;
}
