/**
 * The shared repository contract run for groups over real hosted members (memory stores): with a
 * writable member the full read + write contract, without one the read contract plus every write
 * refused with UNSUPPORTED naming the group. The content is spread over both members (images
 * alternate), so every read is answered by the member that holds it.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { GroupRepositoryPlan, HostedRepositoryPlan } from '../../../../compiler/plan.ts';
import { createGroupRepository, type GroupRepository } from '../../../../runtime/repositories/group/group.ts';
import { createHostedRepository, type HostedRepository } from '../../../../runtime/repositories/hosted/hosted.ts';
import { createMemoryBlobStore } from '../../../../runtime/storage/drivers/memory.ts';
import { testLog } from '../../../helpers/proxy-setup.ts';
import { describeReadableRepository, rejection } from '../../../suites/readable-repository.ts';
import { describeRepository, sha256 } from '../../../suites/repository.ts';
import { type RepositoryContent, seedByPushing } from '../../../suites/repository-content.ts';

const log = testLog();

function hostedMember(name: string): { repository: HostedRepository; close: () => Promise<void> } {
  const plan: HostedRepositoryPlan = {
    name,
    type: 'hosted',
    online: true,
    blobStore: name,
    access: { anonymous: [] },
    deploymentPolicy: 'allowRedeploy',
  };
  const store = createMemoryBlobStore({ name });
  return { repository: createHostedRepository(plan, { store, log }), close: () => store.close() };
}

/** A group `all` over hosted members `a` and `b`, holding `content` (images alternate a, b, a, …). */
async function group(content: RepositoryContent, writableMember: 'a' | null) {
  const a = hostedMember('a');
  const b = hostedMember('b');
  const members = [a.repository, b.repository];
  for (const [index, image] of content.entries()) await seedByPushing(members[index % 2]!, [image]);
  const plan: GroupRepositoryPlan = {
    name: 'all',
    type: 'group',
    online: true,
    blobStore: 'a',
    access: { anonymous: [] },
    members: ['a', 'b'],
    writableMember,
  };
  const repository: GroupRepository = createGroupRepository(plan, {
    members,
    writable: writableMember === null ? null : a.repository,
    log,
  });
  return { repository, close: async () => Promise.all([a.close(), b.close()]).then(() => undefined) };
}

describeRepository('group over hosted members, with a writable member', (content) => group(content, 'a'));

describeReadableRepository('group over hosted members, without a writable member', (content) => group(content, null));

describe('group without a writable member: the write contract', () => {
  it('refuses every write with UNSUPPORTED naming the group and the fix', async () => {
    const { repository, close } = await group([], null);
    try {
      const digest = sha256('blob');
      const writes: [string, Promise<unknown>][] = [
        ['putManifest', repository.putManifest('app', 'v1', Buffer.from('{}'), 'application/json')],
        ['deleteManifest', repository.deleteManifest('app', 'v1')],
        ['deleteBlob', repository.deleteBlob('app', digest)],
        ['startUpload', repository.startUpload('app')],
        ['startUpload (mount)', repository.startUpload('app', { mount: { digest, from: 'base' } })],
        ['getUpload', repository.getUpload('app', 'id')],
        ['appendUpload', repository.appendUpload('app', 'id', 0, Readable.from([Buffer.from('x')]))],
        ['completeUpload', repository.completeUpload('app', 'id', digest)],
        ['cancelUpload', repository.cancelUpload('app', 'id')],
      ];
      for (const [method, write] of writes) {
        const error = await rejection(write, 'UNSUPPORTED');
        expect(error.status, method).toBe(405);
        expect(error.message, method).toMatch(/ through group all is not possible: it has no writableMember\./);
        expect(error.message, method).toContain('set writableMember in the config');
      }
    } finally {
      await close();
    }
  });
});
