import { X509Certificate } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import {
  generatePassphrase,
  isCertFleetError,
  openBundle,
  readTar,
  sealBundle,
  sealBundleWithManifest,
  signManifest,
  writeTar,
  encryptPayload,
  type OpenBundleOptions,
} from '@certfleet/shared';
import { NOW, TEST_SCRYPT, craft, files, fixture, manifestInput, type Fixture } from './_fixtures';

function online(f: Fixture, extra: Partial<OpenBundleOptions> = {}): OpenBundleOptions {
  return {
    identity: f.agent.identity,
    trustedSigningKey: f.trustedSigningKey,
    expectAgentId: 'agent-1',
    now: NOW,
    ...extra,
  } as OpenBundleOptions;
}

async function seal(f: Fixture, overrides: Parameters<typeof manifestInput>[0] = {}, key?: Buffer): Promise<Buffer> {
  return sealBundle({
    manifest: manifestInput(overrides),
    files: files(f, key),
    signingKey: f.signingKey,
    recipient: { kind: 'x25519', publicKey: f.agent.recipient },
  });
}

async function rejects(t: ExecutionContext, p: Promise<unknown>, code: string): Promise<void> {
  const err = await t.throwsAsync(p);
  t.true(isCertFleetError(err), String(err));
  t.is((err as { code?: string }).code, code, (err as Error).message);
}

test('D2/G2: online (X25519) round trip returns manifest and files', async (t) => {
  const f = await fixture();
  const { bytes, manifest } = await sealBundleWithManifest({
    manifest: manifestInput(),
    files: files(f),
    signingKey: f.signingKey,
    recipient: { kind: 'x25519', publicKey: f.agent.recipient },
  });
  t.is(bytes.subarray(0, 22).toString(), 'age-encryption.org/v1\n');
  const opened = await openBundle(bytes, online(f));
  t.false(opened.idempotent);
  t.deepEqual(opened.manifest, manifest);
  t.deepEqual([...opened.files.keys()], ['cert.pem', 'key.pem']);
  t.true(opened.files.get('key.pem')?.equals(f.keyPem));
  t.is(opened.manifest.files.find((x) => x.path === 'key.pem')?.mode, 0o600);
  t.is(opened.manifest.files.find((x) => x.path === 'cert.pem')?.mode, 0o644);
  t.is(opened.manifest.leafSha256, new X509Certificate(f.certPem).fingerprint256.replace(/:/g, '').toLowerCase());
});

test('D3: offline (scrypt passphrase) round trip; wrong passphrase is CF_BUNDLE_DECRYPT', async (t) => {
  const f = await fixture();
  const passphrase = generatePassphrase();
  t.regex(passphrase, /^([a-z2-7]{4}-){6}[a-z2-7]{4}$/); // 28 base32 chars = 140 bits
  const bytes = await sealBundle({
    manifest: manifestInput({ agentId: 'offline' }),
    files: files(f),
    signingKey: f.signingKey,
    recipient: { kind: 'passphrase', passphrase },
    scryptWorkFactor: TEST_SCRYPT,
  });
  const base = { trustedSigningKey: f.trustedSigningKey, expectAgentId: 'offline', now: NOW };
  const opened = await openBundle(bytes, { ...base, passphrase });
  t.is(opened.manifest.agentId, 'offline');
  await rejects(t, openBundle(bytes, { ...base, passphrase: generatePassphrase() }), 'CF_BUNDLE_DECRYPT');
  // an X25519 identity cannot open a passphrase bundle (wrong recipient kind)
  await rejects(t, openBundle(bytes, { ...base, identity: f.agent.identity }), 'CF_BUNDLE_DECRYPT');
});

test('G2: oversize bundle is CF_BUNDLE_TOO_LARGE before anything else', async (t) => {
  const f = await fixture();
  const bytes = await seal(f);
  await rejects(t, openBundle(bytes, online(f, { maxBytes: bytes.length - 1 })), 'CF_BUNDLE_TOO_LARGE');
  await rejects(t, openBundle(Buffer.alloc(21 * 1024 * 1024), online(f)), 'CF_BUNDLE_TOO_LARGE');
});

test('G2: tampered ciphertext, truncation and wrong identity are CF_BUNDLE_DECRYPT', async (t) => {
  const f = await fixture();
  const bytes = await seal(f);
  const flipped = Buffer.from(bytes);
  flipped[flipped.length - 10] = (flipped[flipped.length - 10] ?? 0) ^ 1;
  await rejects(t, openBundle(flipped, online(f)), 'CF_BUNDLE_DECRYPT');
  await rejects(t, openBundle(bytes.subarray(0, bytes.length - 1), online(f)), 'CF_BUNDLE_DECRYPT');
  await rejects(t, openBundle(bytes, online(f, { identity: f.otherAgent.identity })), 'CF_BUNDLE_DECRYPT');
  await rejects(t, openBundle(Buffer.from('not age'), online(f)), 'CF_BUNDLE_DECRYPT');
});

test('G2: a bundle signed by another key is CF_BUNDLE_SIGNATURE', async (t) => {
  const f = await fixture();
  const bytes = await sealBundle({
    manifest: manifestInput(),
    files: files(f),
    signingKey: f.otherSigningKey,
    recipient: { kind: 'x25519', publicKey: f.agent.recipient },
  });
  await rejects(t, openBundle(bytes, online(f)), 'CF_BUNDLE_SIGNATURE');
});

test('G2: manifest edited after signing is CF_BUNDLE_SIGNATURE', async (t) => {
  const f = await fixture();
  const { manifest } = await sealBundleWithManifest({
    manifest: manifestInput(),
    files: files(f),
    signingKey: f.signingKey,
    recipient: { kind: 'x25519', publicKey: f.agent.recipient },
  });
  const signed = Buffer.from(JSON.stringify(manifest));
  const edited = Buffer.from(JSON.stringify({ ...manifest, version: 999 }));
  const tar = writeTar([
    { path: 'manifest.json', data: edited },
    { path: 'manifest.sig', data: signManifest(signed, f.signingKey) },
    { path: 'cert.pem', data: f.certPem },
    { path: 'key.pem', data: f.keyPem },
  ]);
  const bytes = await encryptPayload(tar, { kind: 'x25519', publicKey: f.agent.recipient });
  await rejects(t, openBundle(bytes, online(f)), 'CF_BUNDLE_SIGNATURE');
});

test('G2: a bundle for agent A delivered to agent B is CF_BUNDLE_RECIPIENT', async (t) => {
  const f = await fixture();
  const bytes = await seal(f, { agentId: 'agent-2' });
  await rejects(t, openBundle(bytes, online(f)), 'CF_BUNDLE_RECIPIENT');
  // an online bundle marked 'offline' is refused by an agent expecting 'offline' with an identity too
  const offlineOnline = await seal(f, { agentId: 'offline' });
  await rejects(t, openBundle(offlineOnline, online(f, { expectAgentId: 'offline' })), 'CF_BUNDLE_RECIPIENT');
});

test('G2: expired and not-yet-valid bundles are CF_BUNDLE_EXPIRED', async (t) => {
  const f = await fixture();
  const bytes = await seal(f);
  await rejects(t, openBundle(bytes, online(f, { now: new Date('2026-11-26T12:00:00Z') })), 'CF_BUNDLE_EXPIRED');
  await rejects(t, openBundle(bytes, online(f, { now: new Date('2026-11-25T10:59:59Z') })), 'CF_BUNDLE_EXPIRED');
});

test('G2: v-1 after v is CF_BUNDLE_ROLLBACK; same v with another bundle id too; same bundle is idempotent', async (t) => {
  const f = await fixture();
  const bundleId = '0b9d5f7e-3a1c-4c2e-9f7a-1d2e3f4a5b6c';
  const bytes = await seal(f, { bundleId, version: 5 });
  await rejects(
    t,
    openBundle(bytes, online(f, { lastVersionForSlot: { version: 6, bundleId } })),
    'CF_BUNDLE_ROLLBACK'
  );
  const otherId = '1b9d5f7e-3a1c-4c2e-9f7a-1d2e3f4a5b6c';
  await rejects(
    t,
    openBundle(bytes, online(f, { lastVersionForSlot: { version: 5, bundleId: otherId } })),
    'CF_BUNDLE_ROLLBACK'
  );
  const replay = await openBundle(
    bytes,
    online(f, { lastVersionForSlot: (slot) => (slot === 'shop.example.com' ? { version: 5, bundleId } : undefined) })
  );
  t.true(replay.idempotent);
  const newer = await openBundle(bytes, online(f, { lastVersionForSlot: { version: 4, bundleId: otherId } }));
  t.false(newer.idempotent);
});

test('G2: a file that does not match its SHA-256 is CF_BUNDLE_HASH', async (t) => {
  const f = await fixture();
  const { manifest } = await sealBundleWithManifest({
    manifest: manifestInput(),
    files: files(f),
    signingKey: f.signingKey,
    recipient: { kind: 'x25519', publicKey: f.agent.recipient },
  });
  const bytes = await craft(f, manifest, [], {
    fileEntries: [
      { path: 'cert.pem', data: f.certPem },
      { path: 'key.pem', data: f.otherKeyPem },
    ],
  });
  await rejects(t, openBundle(bytes, online(f)), 'CF_BUNDLE_HASH');
});

test('G2: a key that does not belong to the certificate is CF_BUNDLE_KEY_MISMATCH', async (t) => {
  const f = await fixture();
  const bytes = await seal(f, {}, f.otherKeyPem);
  await rejects(t, openBundle(bytes, online(f)), 'CF_BUNDLE_KEY_MISMATCH');
});

test('G2: an extra tar entry is CF_BUNDLE_MALFORMED', async (t) => {
  const f = await fixture();
  const { manifest } = await sealBundleWithManifest({
    manifest: manifestInput(),
    files: files(f),
    signingKey: f.signingKey,
    recipient: { kind: 'x25519', publicKey: f.agent.recipient },
  });
  const bytes = await craft(f, manifest, [{ path: 'evil.sh', data: Buffer.from('rm -rf /') }]);
  await rejects(t, openBundle(bytes, online(f)), 'CF_BUNDLE_MALFORMED');
});

test('G2: a signed manifest with path traversal is CF_BUNDLE_MALFORMED; sealBundle refuses it too', async (t) => {
  const f = await fixture();
  const { manifest } = await sealBundleWithManifest({
    manifest: manifestInput(),
    files: files(f),
    signingKey: f.signingKey,
    recipient: { kind: 'x25519', publicKey: f.agent.recipient },
  });
  for (const bad of ['../etc/passwd', '/etc/ssl/key.pem', 'a/../../b', 'x\u0000y']) {
    const evil = { ...manifest, files: [...manifest.files, { path: bad, sha256: '0'.repeat(64), mode: 0o644 }] };
    const bytes = await craft(f, evil);
    await rejects(t, openBundle(bytes, online(f)), 'CF_BUNDLE_MALFORMED');
  }
  const err = await t.throwsAsync(
    sealBundle({
      manifest: manifestInput({ files: [{ path: 'cert.pem' }, { path: '../key.pem' }] }),
      files: new Map([
        ['cert.pem', f.certPem],
        ['../key.pem', f.keyPem],
      ]),
      signingKey: f.signingKey,
      recipient: { kind: 'x25519', publicKey: f.agent.recipient },
    })
  );
  t.is((err as { code?: string }).code, 'CF_VALIDATION');
});

test('G2: shell text as a hook and group-readable keys are refused at sealing', async (t) => {
  const f = await fixture();
  for (const m of [
    manifestInput({ hooks: ['systemctl reload nginx'] as never }),
    manifestInput({ files: [{ path: 'cert.pem' }, { path: 'key.pem', mode: 0o640 }] }),
  ]) {
    const err = await t.throwsAsync(
      sealBundle({
        manifest: m,
        files: files(f),
        signingKey: f.signingKey,
        recipient: { kind: 'x25519', publicKey: f.agent.recipient },
      })
    );
    t.is((err as { code?: string }).code, 'CF_VALIDATION');
  }
});

test('G2: the tar reader refuses links and bad checksums', (t) => {
  const tar = writeTar([{ path: 'a', data: Buffer.from('x') }]);
  const link = Buffer.from(tar);
  link[156] = 0x32; // symlink; checksum now wrong too
  t.throws(() => readTar(link, { maxEntries: 4, maxTotalBytes: 1024 }));
  t.deepEqual(
    readTar(tar, { maxEntries: 4, maxTotalBytes: 1024 }).map((e) => e.path),
    ['a']
  );
  t.throws(() => readTar(tar, { maxEntries: 4, maxTotalBytes: 0 }), { message: /too large/ });
});
