import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { PayloadObjects } from './payload-ref';

/** The payload bucket read with `s3:GetObject`; the client is the caller's, created once at module scope. */
export function s3PayloadObjects(client: S3Client = new S3Client({})): PayloadObjects {
  return {
    async get({ bucket, key }) {
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (object.Body === undefined) throw new Error('the object has no body');
      return object.Body.transformToByteArray();
    },
  };
}
