/**
 * The daily digest (SPEC M5) arrives at a real SMTP server process and lists the failing endpoints, expiring
 * certificates and agents not seen — sent by the scheduled job's handler through the real mail notifier.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import pino from 'pino';
import { saveSmtpSettings } from '../../../controller/src/notifications';
import { digestJobs } from '../../../controller/src/scheduler/jobs/digest';
import { defaultAcquisitionDeps } from '../../../controller/src/services/acquisition/defaults';
import {
  AgentEntity,
  MonitoredEndpointEntity,
  MonitoringHistoryEntity,
} from '../../../controller/src/storage/entities';
import { startTestController } from '../../_helpers/controller';
import { makeTestMailTls, startSmtpTestServer } from '../../_helpers/smtp-server';

test('M5 the daily digest mail lists failing endpoints, expiring certificates and silent agents', async (t) => {
  const tc = await startTestController();
  const pkiDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-digest-pki-'));
  const smtp = await startSmtpTestServer({ mode: 'starttls', tls: makeTestMailTls(pkiDir) });
  t.teardown(async () => {
    await smtp.stop();
    await tc.close();
    fs.rmSync(pkiDir, { recursive: true, force: true });
  });
  const ctx = tc.controller.ctx;
  await saveSmtpSettings(
    ctx,
    {
      fromAddress: 'certfleet@example.test',
      fromName: 'CertFleet',
      host: smtp.host,
      port: smtp.port,
      security: smtp.mode,
      username: smtp.user,
      password: smtp.password,
      adminEmail: 'pki-admin@example.test',
      caPem: smtp.caPem,
    },
    'test'
  );
  const token = await tc.adminToken();
  const api = (m: string, u: string, b?: unknown) => tc.request(m, u, b, token);
  // an issued certificate (internal CA, 10 days) is "expiring"; its endpoints are failing / ok
  const def = await api('POST', '/api/v1/definitions', {
    name: 'digest-site',
    subject: { commonName: 'digest.test' },
    sans: [{ type: 'dns', value: 'digest.test' }],
    issuerType: 'internal-ca',
    issuerConfig: { validityDays: 10 },
    processMode: 'unattended',
  });
  t.is(def.status, 201, JSON.stringify(def.json));
  const definitionId = (def.json as { id: string }).id;
  const run = await api('POST', '/api/v1/requests', { definitionId });
  t.is(run.status, 201, JSON.stringify(run.json));
  const now = ctx.clock.now();
  const em = ctx.db.em().fork();
  const endpoint = (host: string) =>
    em.create(MonitoredEndpointEntity, {
      id: crypto.randomUUID(),
      definitionId,
      host,
      port: 443,
      serverName: null,
      starttls: null,
      probeFrom: 'controller',
      agentId: null,
      enabled: true,
      createdAt: now,
      updatedAt: now,
    });
  const bad = endpoint('bad.digest.test');
  const good = endpoint('good.digest.test');
  for (const [e, status, reason] of [
    [bad, 'failing', 'ChainNotTrusted'],
    [good, 'ok', 'Ok'],
  ] as const) {
    em.create(MonitoringHistoryEntity, {
      id: crypto.randomUUID(),
      definitionId,
      certificateId: null,
      endpoint: `${e.host}:443`,
      status,
      reason,
      message: null,
      at: now,
      endpointId: e.id,
    });
  }
  em.create(AgentEntity, {
    id: crypto.randomUUID(),
    name: 'silent-host',
    status: 'active',
    bundlePublicKey: 'age1' + 'q'.repeat(58),
    certSerial: '01',
    certNotAfter: now,
    nextCertSerial: null,
    agentVersion: '0.1.0',
    enrolledAt: new Date(now.getTime() - 3 * 86_400_000),
    lastSeenAt: new Date(now.getTime() - 2 * 86_400_000),
    bannedAt: null,
  });
  await em.flush();

  const before = (await smtp.received()).length;
  const [job] = digestJobs({ ctx, acquisition: defaultAcquisitionDeps(ctx), log: pino({ level: 'silent' }) });
  await job!.handler([{ id: 'x', name: 'daily-digest', data: {} } as never], undefined as never);
  const [mail] = (await smtp.waitForMail(before + 1, 15_000)).slice(before);
  t.deepEqual(mail!.session.rcptTo, ['pki-admin@example.test']);
  const text = mail!.parsed.text ?? '';
  t.true(text.includes('bad.digest.test:443'), text);
  t.true(text.includes('ChainNotTrusted'));
  t.false(text.includes('good.digest.test'), 'ok endpoints are not listed');
  t.true(text.includes('digest-site'));
  t.true(text.includes('silent-host'));
});
