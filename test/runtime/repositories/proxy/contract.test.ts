/**
 * The read contract run for the proxy repository over a real upstream on loopback
 * (test/helpers/counting-upstream.ts) that holds the contract's content: every read goes through
 * the proxy's cache-filling path (memory store) and the upstream's v2 API. Writes are not the
 * proxy's: it has none (see proxy.test.ts and test/runtime/http/read-only.test.ts).
 */
import { startCountingUpstream } from '../../../helpers/counting-upstream.ts';
import { proxyPlan, TestProxies, testLog } from '../../../helpers/proxy-setup.ts';
import { describeReadableRepository } from '../../../suites/readable-repository.ts';

describeReadableRepository('proxy over a loopback upstream (memory store)', async (content) => {
  const upstream = await startCountingUpstream();
  for (const image of content) upstream.addContent(image.name, image.blobs, image.manifests);
  const proxies = new TestProxies({ log: testLog() });
  const repository = proxies.create(proxyPlan(upstream.url));
  return {
    repository,
    close: async () => {
      await proxies.closeAll();
      await upstream.stop();
    },
  };
});
