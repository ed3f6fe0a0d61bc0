import type { ConversationDeps } from './conversation-access.js';
import { ConversationService } from './conversation-service.js';
import { ConversationCommits } from './conversation-commits.js';
import { ConversationEvents } from './conversation-events.js';
import { ConversationRecall } from './conversation-recall.js';
import { ConversationSweeper } from './conversation-purge.js';
import { MessagingPolicyService } from './messaging-policy.js';

/** The conversations part (MLS Delivery Service), built from its ports. */
export interface Conversations {
  conversations: ConversationService;
  commits: ConversationCommits;
  /** Also the `ConversationReader` live delivery reads through. */
  events: ConversationEvents;
  /** Also the `ConversationMembership` the devices part calls on revocation. */
  recall: ConversationRecall;
  /** The lifespan purge and care-team sweep (start/stop with the app's workers). */
  sweeper: ConversationSweeper;
  policy: MessagingPolicyService;
  deps: ConversationDeps;
}

export function buildConversations(
  deps: ConversationDeps,
  o: { sweepIntervalMs?: number; onError?: (e: unknown) => void } = {},
): Conversations {
  return {
    conversations: new ConversationService(deps),
    commits: new ConversationCommits(deps),
    events: new ConversationEvents(deps),
    recall: new ConversationRecall(deps),
    sweeper: new ConversationSweeper(deps, { intervalMs: o.sweepIntervalMs ?? 60_000, onError: o.onError }),
    policy: new MessagingPolicyService(deps),
    deps,
  };
}
