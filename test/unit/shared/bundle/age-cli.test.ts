import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generatePassphrase, sealBundle } from '@certfleet/shared';
import { assertCommands, testNeeding } from '../../../_helpers/needs';
import { TEST_SCRYPT, files, fixture, manifestInput } from './_fixtures';

const execFileAsync = promisify(execFile);
const test = testNeeding(['age', 'tar', 'script']);

test('D2: Debian age CLI decrypts an X25519 bundle; the payload is a ustar with exactly the expected entries', async (t) => {
  assertCommands(['age', 'tar']);
  const f = await fixture();
  const bytes = await sealBundle({
    manifest: manifestInput(),
    files: files(f),
    signingKey: f.signingKey,
    recipient: { kind: 'x25519', publicKey: f.agent.recipient },
  });
  const dir = await mkdtemp(join(tmpdir(), 'cf-bundle-'));
  try {
    await writeFile(join(dir, 'id.txt'), `${f.agent.identity}\n`, { mode: 0o600 });
    await writeFile(join(dir, 'b.age'), bytes);
    await execFileAsync('age', ['-d', '-i', join(dir, 'id.txt'), '-o', join(dir, 'b.tar'), join(dir, 'b.age')]);
    const { stdout } = await execFileAsync('tar', ['-tf', join(dir, 'b.tar')]);
    t.deepEqual(stdout.trim().split('\n'), ['manifest.json', 'manifest.sig', 'cert.pem', 'key.pem']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** age reads a passphrase only from a TTY: util-linux `script` gives it a pseudo-terminal we type into. */
function ageDecryptWithPassphrase(input: string, output: string, passphrase: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', `age -d -o '${output}' '${input}'`, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    let typed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (!typed && chunk.toString().includes('passphrase')) {
        typed = true;
        child.stdin.write(`${passphrase}\r`);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

test('D3: Debian age CLI decrypts an offline (passphrase) bundle', async (t) => {
  assertCommands(['age', 'tar', 'script']);
  const f = await fixture();
  const passphrase = generatePassphrase();
  const bytes = await sealBundle({
    manifest: manifestInput({ agentId: 'offline' }),
    files: files(f),
    signingKey: f.signingKey,
    recipient: { kind: 'passphrase', passphrase },
    scryptWorkFactor: TEST_SCRYPT,
  });
  const dir = await mkdtemp(join(tmpdir(), 'cf-bundle-'));
  try {
    await writeFile(join(dir, 'b.age'), bytes);
    t.is(await ageDecryptWithPassphrase(join(dir, 'b.age'), join(dir, 'b.tar'), passphrase), 0);
    const { stdout } = await execFileAsync('tar', ['-tf', join(dir, 'b.tar')]);
    t.deepEqual(stdout.trim().split('\n'), ['manifest.json', 'manifest.sig', 'cert.pem', 'key.pem']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
