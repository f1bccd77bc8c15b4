import { PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { PayloadStoreError, type PayloadStore } from './payload-store';

/**
 * Payloads as S3 objects. The bucket's default encryption applies (S3-managed keys); the SHA-256 is sent as the
 * object's checksum, so S3 refuses a body that was altered on the way.
 */
export class S3PayloadStore implements PayloadStore {
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
  ) {}

  static create(bucket: string, config: S3ClientConfig = {}): S3PayloadStore {
    return new S3PayloadStore(new S3Client(config), bucket);
  }

  async put(object: { key: string; body: string; sha256: string }): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: object.key,
          Body: object.body,
          ContentType: 'application/json',
          ChecksumSHA256: Buffer.from(object.sha256, 'hex').toString('base64'),
        }),
      );
    } catch (error) {
      const cause = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new PayloadStoreError(`cannot store s3://${this.bucket}/${object.key} (${cause})`, { cause: error });
    }
  }
}
