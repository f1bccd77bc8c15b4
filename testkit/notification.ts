import { randomUUID } from 'node:crypto';

/** A changeNotification as Graph sends it, with real-looking GUIDs. */
export function notification(input: {
  tenantId: string;
  clientState: string;
  subscriptionId?: string;
  changeType?: 'created' | 'updated' | 'deleted';
  lifecycleEvent?: 'reauthorizationRequired' | 'subscriptionRemoved' | 'missed';
  resource?: string;
  id?: string;
}): Record<string, unknown> {
  const base = {
    subscriptionId: input.subscriptionId ?? randomUUID(),
    subscriptionExpirationDateTime: '2026-11-28T10:00:00.0000000Z',
    tenantId: input.tenantId,
    clientState: input.clientState,
  };
  if (input.lifecycleEvent !== undefined) return { ...base, lifecycleEvent: input.lifecycleEvent };
  const userId = randomUUID();
  return {
    ...base,
    changeType: input.changeType ?? 'updated',
    resource: input.resource ?? `Users/${userId}`,
    resourceData: { '@odata.type': '#Microsoft.Graph.User', '@odata.id': `Users/${userId}`, id: input.id ?? userId },
  };
}
