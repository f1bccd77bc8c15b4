/** A subscription quota 403 is told apart from a revoked consent, in each wording Graph is known to use. */
import { GraphRequestError } from '../../shared/graph/graph-client';
import { isQuotaExceeded } from '../../shared/subscriptions/subscription-requests';

function graph403(message: string, status = 403): GraphRequestError {
  return new GraphRequestError({ method: 'POST', path: '/subscriptions', tenantId: 't', status, code: 'ExtensionError', message, requestId: 'r', clientRequestId: 'c', date: undefined });
}

describe('isQuotaExceeded', () => {
  test.each([
    "Operation: Create; Exception: [Status Code: Forbidden; Reason: App 'x' has reached its limit of '100' user subscription on tenant 'y']",
    'Operation: Create; Exception: [Status Code: Forbidden; Reason: Maximum number of subscriptions has been reached]',
    'The subscription quota for the tenant has reached its limit.',
  ])('a 403 "%s" is a quota', (message) => {
    expect(isQuotaExceeded(graph403(message))).toBe(true);
  });

  test.each([
    ['Insufficient privileges to complete the operation.', 403],
    ['Access is denied. Check credentials and try again.', 403],
    ['Maximum number of subscriptions has been reached', 400],
  ])('"%s" (HTTP %i) is not a quota', (message, status) => {
    expect(isQuotaExceeded(graph403(message, status))).toBe(false);
  });
});
