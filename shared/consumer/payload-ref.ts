import { createHash } from 'node:crypto';
import type { GraphRelayNotificationEvent } from './events';
import { InvalidGraphRelayEventError, parseDetail } from './events';

/** Where the kit reads an offloaded detail from: the payload bucket (`s3PayloadObjects`), or a stub in tests. */
export interface PayloadObjects {
  /**
   * The object's bytes, read in `region` (the bucket's, as the payloadRef names it; absent in events published before
   * it was recorded: the caller's default). Throws when it cannot be read.
   */
  get(location: { bucket: string; key: string; region?: string | undefined }): Promise<Uint8Array>;
}

/** An offloaded detail that cannot be used: unreadable, changed after publishing, or not a valid detail. */
export class PayloadRefError extends Error {
  override readonly name = 'PayloadRefError';
}

/**
 * The full `detail` of a notification event: the event's own when it carries no `payloadRef`; otherwise the object
 * it points to, refused unless its size and SHA-256 are the ones the event carries (the event is the only witness of
 * what was published) and it parses as a detail of the event's detail-type.
 * @throws PayloadRefError
 */
export async function resolvePayloadRef<E extends GraphRelayNotificationEvent>(event: E, options: { objects: PayloadObjects }): Promise<E['detail']> {
  const ref = event.detail.payloadRef;
  if (ref === undefined) return event.detail;
  const where = `s3://${ref.bucket}/${ref.key}`;
  let bytes: Uint8Array;
  try {
    bytes = await options.objects.get({ bucket: ref.bucket, key: ref.key, ...(ref.region === undefined ? {} : { region: ref.region }) });
  } catch (error) {
    const cause = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const region = ref.region === undefined ? '' : ` in ${ref.region}`;
    throw new PayloadRefError(`cannot read ${where}${region} (${cause}): grant the consumer s3:GetObject on ${ref.bucket}/*, and read events within the archive's retention`, { cause: error });
  }
  if (bytes.byteLength !== ref.size) {
    throw new PayloadRefError(`${where} is ${bytes.byteLength} bytes, the event says ${ref.size}: the object was changed after publishing; do not use it`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== ref.sha256) {
    throw new PayloadRefError(`${where} does not match the event's sha256 (${sha256}, expected ${ref.sha256}): the object was changed after publishing; do not use it`);
  }
  try {
    return parseDetail(event['detail-type'], JSON.parse(new TextDecoder().decode(bytes)) as unknown) as E['detail'];
  } catch (error) {
    const reason = error instanceof InvalidGraphRelayEventError || error instanceof SyntaxError ? error.message : String(error);
    throw new PayloadRefError(`${where}: ${reason}`, { cause: error });
  }
}
