/**
 * SPEC U3: the console's own TLS certificate is a definition of type "this controller", renewed like any other — a
 * new current certificate of that definition is served by the running controller without a restart (hot swap with
 * setSecureContext), audited; an expired or key-less certificate is never switched to.
 */
import crypto from 'node:crypto';
import tls from 'node:tls';
import test from 'ava';
import { startTestController } from '../../_helpers/controller';

/** SHA-256 of the leaf a fresh TLS connection to the console gets. */
function servedSha256(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const raw = s.getPeerX509Certificate()?.raw;
      s.destroy();
      if (!raw) reject(new Error('no peer certificate'));
      else resolve(crypto.createHash('sha256').update(raw).digest('hex'));
    });
    s.once('error', reject);
    s.setTimeout(10_000, () => s.destroy(new Error('TLS timeout')));
  });
}

interface CertRow {
  id: string;
  sha256: string;
}

test('U3 a renewed console certificate is served by the running controller without a restart, and audited', async (t) => {
  const tc = await startTestController();
  t.teardown(() => tc.close());
  const token = await tc.adminToken();
  const ok = async <T>(method: string, url: string, body?: unknown): Promise<T> => {
    const r = await tc.request(method, url, body, token);
    if (r.status >= 300) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json as T;
  };
  const def = (await ok<{ items: Array<{ id: string }> }>('GET', '/api/v1/definitions?q=console')).items[0];
  if (!def) throw new Error('no console definition');
  const currentOf = async (): Promise<CertRow | undefined> =>
    (await ok<{ items: CertRow[] }>('GET', `/api/v1/certificates?definitionId=${def.id}&current=true`)).items[0];
  const before = await currentOf();
  if (!before) throw new Error('no current console certificate');
  t.is(await servedSha256(tc.controller.port), before.sha256, 'at start the current certificate is served');

  // Nothing new yet: a check changes nothing.
  t.is(await tc.controller.consoleCertificate.check(), before.sha256);

  // Renew it the way the scheduler does: an acquisition of the (unattended, built-in CA) definition.
  await ok('POST', '/api/v1/requests', { definitionId: def.id });
  let renewed: CertRow | undefined;
  for (let i = 0; i < 300 && !renewed; i++) {
    const c = await currentOf();
    if (c && c.sha256 !== before.sha256) renewed = c;
    else await new Promise((r) => setTimeout(r, 200));
  }
  if (!renewed) throw new Error('the console definition was not renewed within 60 s');
  t.is(await servedSha256(tc.controller.port), before.sha256, 'served until the watcher installs the new one');

  t.is(await tc.controller.consoleCertificate.check(), renewed.sha256);
  t.is(await servedSha256(tc.controller.port), renewed.sha256, 'new connections get the renewed certificate');
  t.is((await tc.request('GET', '/healthz')).status, 200, 'the API still answers');

  const audit = await ok<{
    items: Array<{ action: string; targetId: string | null; details: Record<string, unknown> }>;
  }>('GET', '/api/v1/audit?action=console.certificate-installed');
  const row = audit.items.find((a) => a.action === 'console.certificate-installed');
  t.is(row?.targetId, renewed.id);
  t.is(row?.details.sha256, renewed.sha256);
  t.is(row?.details.previousSha256, before.sha256);
  t.false(JSON.stringify(audit).includes('PRIVATE KEY'), 'no key material in the audit');

  // Installed once: a second check is a no-op.
  t.is(await tc.controller.consoleCertificate.check(), renewed.sha256);
  const again = await ok<{ items: unknown[] }>('GET', '/api/v1/audit?action=console.certificate-installed');
  t.is(again.items.length, audit.items.length);
});
