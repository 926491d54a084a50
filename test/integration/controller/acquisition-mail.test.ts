import type { TestFn } from 'ava';
import { startTestController, type TestController } from '../../_helpers/controller';
import { assertCommands, testNeeding } from '../../_helpers/needs';
import { startSmtpTestServer, type SmtpTestServer } from '../../_helpers/smtp-server';

const test = testNeeding<{ tc: TestController; smtp: SmtpTestServer; token: string }>(['openssl']) as TestFn<{
  tc: TestController;
  smtp: SmtpTestServer;
  token: string;
}>;

test.before(async (t) => {
  assertCommands(['openssl']);
  const smtp = await startSmtpTestServer({ mode: 'starttls' });
  const tc = await startTestController(); // default deps: built-in issuers + the SMTP notifier
  t.context = { tc, smtp, token: await tc.adminToken() };
});
test.after.always(async (t) => {
  await t.context.tc?.close();
  await t.context.smtp?.stop();
});

test('O2 N2 a stalled unattended process mails the administrator through SMTP and resumes once the data is supplied', async (t) => {
  const { tc, smtp, token } = t.context;
  const api = (method: string, url: string, body?: unknown) => tc.request(method, url, body, token);
  const put = await api('PUT', '/api/v1/settings/smtp', {
    fromAddress: 'certfleet@example.test',
    fromName: 'CertFleet',
    host: smtp.host,
    port: smtp.port,
    security: 'starttls',
    username: smtp.user,
    password: smtp.password,
    adminEmail: 'pki-admin@example.test',
    caPem: smtp.caPem,
  });
  t.is(put.status, 200, JSON.stringify(put.json));
  const def = (
    await api('POST', '/api/v1/definitions', {
      name: 'stalls',
      subject: { commonName: 'stalls.example.test' },
      sans: [{ type: 'dns', value: 'stalls.example.test' }],
      issuerType: 'internal-ca',
      issuerConfig: { caId: '00000000-0000-4000-8000-000000000000' },
      processMode: 'unattended',
    })
  ).json as { id: string };
  const run = (await api('POST', '/api/v1/requests', { definitionId: def.id })).json as {
    request: { id: string; status: string };
    stoppedBecause: string;
  };
  t.is(run.stoppedBecause, 'waiting');
  const [mail] = await smtp.waitForMail(1, 15_000);
  t.deepEqual(mail!.session.rcptTo, ['pki-admin@example.test']);
  t.true(mail!.session.secure, 'delivered over STARTTLS');
  t.regex(mail!.parsed.subject ?? '', /stalls/);
  t.regex(mail!.parsed.text ?? '', new RegExp(run.request.id));
  const log = (await api('GET', '/api/v1/sent-mail?template=stalled-process')).json as {
    items: Array<{ status: string }>;
  };
  t.is(log.items[0]?.status, 'sent');

  t.is((await api('PATCH', `/api/v1/definitions/${def.id}`, { issuerConfig: {} })).status, 200);
  const resumed = (await api('POST', `/api/v1/requests/${run.request.id}/resume`, { processMode: 'unattended' }))
    .json as { request: { status: string } };
  t.is(resumed.request.status, 'completed');
  const issued = await smtp.waitForMail(2, 15_000);
  t.regex(issued[1]!.parsed.subject ?? '', /issued|stalls/i, 'and the issued-certificate mail follows');
});
