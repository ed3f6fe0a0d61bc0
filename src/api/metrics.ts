import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/store.js';
import type { DeliveryOutcome } from '../queue/job-queue.js';

/** Prometheus metrics. Labels are closed sets (channel, status, route pattern): never ids or values. */
export class Metrics {
  readonly registry = new Registry();
  readonly contentType = this.registry.contentType;
  readonly deliveryOutcomes = new Counter({
    name: 'sealpost_delivery_attempts_total',
    help: 'Delivery attempts by channel and outcome',
    labelNames: ['channel', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly deliveryLatency = new Histogram({
    name: 'sealpost_delivery_latency_seconds',
    help: 'From due time to provider acceptance',
    labelNames: ['channel'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'sealpost_http_request_duration_seconds',
    help: 'HTTP request duration by route pattern',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  constructor(store: Store) {
    collectDefaultMetrics({ register: this.registry, prefix: 'sealpost_process_' });
    new Gauge({
      name: 'sealpost_deliveries',
      help: 'Deliveries by status and channel (queue depth = scheduled + queued)',
      labelNames: ['status', 'channel'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const r of await store.read.queue.countByStatus()) this.set({ status: r.status, channel: r.channel }, r.n);
      },
    });
  }

  /** Counts a delivery attempt; an accepted send also records its latency from the delivery's due time. */
  deliveryAttempted(o: DeliveryOutcome, dueAtMs: number, nowMs: number): void {
    this.deliveryOutcomes.inc({ channel: o.channel, outcome: o.status });
    if (o.status === 'sent' || o.status === 'delivered') {
      this.deliveryLatency.observe({ channel: o.channel }, Math.max(0, nowMs - dueAtMs) / 1000);
    }
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
