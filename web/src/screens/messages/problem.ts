import { SealpostApiError } from '@sealpost/sdk/browser';

/**
 * The messaging client's refusals as the console's ProblemNote shows them: the API's title and
 * stable code (SealpostApiError carries the problem body); other failures keep their message.
 */
export function asProblem(e: unknown): unknown {
  if (e instanceof SealpostApiError)
    return { title: String(e.problem.title ?? e.message), code: e.code ?? `HTTP_${e.status}` };
  return e;
}
