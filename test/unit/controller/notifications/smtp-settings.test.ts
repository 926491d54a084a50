import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import test from 'ava';
import { smtpSettingsInputSchema } from '../../../../controller/src/notifications/smtp-settings';
import {
  describeSmtpError,
  scrubCredentials,
  smtpTransportOptions,
  type SmtpConnectionSettings,
} from '../../../../controller/src/notifications';

const base = {
  fromAddress: 'certfleet@example.test',
  fromName: 'CertFleet 証明書管理',
  host: 'mail.example.test',
  port: 587,
  security: 'starttls',
  username: 'mailer',
  password: 'pw-123456',
  adminEmail: 'admin@example.test',
};

function caPem(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cf-smtp-unit-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        path.join(dir, 'k'),
        '-out',
        path.join(dir, 'c'),
        '-days',
        '1',
        '-subj',
        '/CN=unit CA',
      ],
      { stdio: 'ignore' }
    );
    return fs.readFileSync(path.join(dir, 'c'), 'utf8');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const problems = (raw: unknown): string[] => {
  const r = smtpSettingsInputSchema.safeParse(raw);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

test('N1 settings schema: defaults (rejectUnauthorized true, fromName) and strictness', (t) => {
  const { fromName: _n, ...noName } = base;
  const parsed = smtpSettingsInputSchema.parse(noName);
  t.true(parsed.rejectUnauthorized);
  t.is(parsed.fromName, 'CertFleet');
  t.deepEqual(problems({ ...base, extra: 1 }).length, 1, 'unknown keys are refused');
  t.true(problems({ ...base, fromAddress: 'not-an-address' }).some((p) => p.startsWith('fromAddress')));
  t.true(problems({ ...base, adminEmail: 'x' }).some((p) => p.startsWith('adminEmail')));
  t.true(problems({ ...base, port: 0 }).some((p) => p.startsWith('port')));
  t.true(problems({ ...base, host: 'mail.example.test\r\nRCPT TO:<x>' }).some((p) => p.startsWith('host')));
  t.true(problems({ ...base, security: 'ssl' }).some((p) => p.startsWith('security')));
});

test('N1 settings schema: credentials need encryption and a username', (t) => {
  t.true(problems({ ...base, security: 'none' }).some((p) => /unencrypted/.test(p)));
  const { username: _u, password: _p, ...anon } = base;
  t.deepEqual(problems({ ...anon, security: 'none', port: 25 }), [], 'an unauthenticated relay is fine');
  t.true(problems({ ...anon, password: 'x1234' }).some((p) => /needs a username/.test(p)));
  t.deepEqual(problems({ ...base, password: null }), [], 'null removes the password');
});

test('N1 settings schema: caPem must hold parsable certificates', (t) => {
  t.deepEqual(problems({ ...base, caPem: caPem() }), []);
  t.true(problems({ ...base, caPem: 'hello' }).some((p) => /no PEM CERTIFICATE/.test(p)));
  t.true(
    problems({ ...base, caPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }).some((p) =>
      /does not parse/.test(p)
    )
  );
});

const conn = (over: Partial<SmtpConnectionSettings> = {}): SmtpConnectionSettings => ({
  fromAddress: base.fromAddress,
  fromName: base.fromName,
  host: base.host,
  port: 587,
  security: 'starttls',
  username: 'mailer',
  password: 'pw-123456',
  hasPassword: true,
  adminEmail: base.adminEmail,
  rejectUnauthorized: true,
  caPem: null,
  revision: 1,
  updatedAt: new Date(0),
  ...over,
});

test('N1 transport options: starttls requires TLS, tls is implicit, none ignores STARTTLS; pooled; no logger', (t) => {
  const s = smtpTransportOptions(conn());
  t.like(s, { pool: true, secure: false, requireTLS: true, ignoreTLS: false, logger: false, debug: false });
  t.deepEqual(s.auth, { user: 'mailer', pass: 'pw-123456' });
  t.like(s.tls, { rejectUnauthorized: true, minVersion: 'TLSv1.2' });
  t.is(s.tls?.ca, undefined, 'no caPem: Node default trust');
  t.like(smtpTransportOptions(conn({ security: 'tls', port: 465 })), { secure: true, requireTLS: false, port: 465 });
  const none = smtpTransportOptions(conn({ security: 'none', username: null, password: null, port: 25 }));
  t.like(none, { secure: false, requireTLS: false, ignoreTLS: true });
  t.is(none.auth, undefined);
  t.false(smtpTransportOptions(conn({ rejectUnauthorized: false })).tls?.rejectUnauthorized ?? true);
});

test('N1 transport options: caPem adds to the bundled roots instead of replacing them', (t) => {
  const pem = caPem();
  const ca = smtpTransportOptions(conn({ caPem: pem })).tls?.ca as string[];
  t.is(ca.length, tls.rootCertificates.length + 1);
  t.is(new crypto.X509Certificate(ca[ca.length - 1]!).subject, 'CN=unit CA');
});

test('N1 error texts never carry credentials', (t) => {
  const s = { username: 'mailer', password: 'Sup3r-Secret' };
  const plain = Buffer.from('\u0000mailer\u0000Sup3r-Secret').toString('base64');
  const text = `Invalid login: 535 bad AUTH PLAIN ${plain} Sup3r-Secret ${Buffer.from('Sup3r-Secret').toString('base64')}`;
  const out = scrubCredentials(text, s);
  t.false(out.includes('Sup3r-Secret'));
  t.false(out.includes(plain));
  t.false(out.includes(Buffer.from('Sup3r-Secret').toString('base64')));
  t.true(out.includes('AUTH PLAIN [redacted]'));

  const err = Object.assign(new Error('Invalid login: 535 5.7.8 Authentication failed for Sup3r-Secret'), {
    code: 'EAUTH',
    responseCode: 535,
    command: 'AUTH PLAIN',
    permanent: true,
  });
  const d = describeSmtpError(err, { host: 'mail.example.test', port: 587, ...s });
  t.is(d.code, 'EAUTH');
  t.is(d.smtpCode, 535);
  t.true(d.permanent);
  t.regex(d.message, /^smtp\(mail\.example\.test:587\): EAUTH: Invalid login: 535/);
  t.false(d.message.includes('Sup3r-Secret'));
});
