/**
 * Child process for x25519.test.ts: makes key shares in a tight loop under heavy garbage collection (run with a tiny
 * young generation) and prints how many it made. `node --import tsx _x25519-loop.ts MODE COUNT SECONDS`:
 * `probe` uses the probe's x25519KeyShare(); `generate` does what Node 20 deadlocks on (generateKeyPairSync, then
 * the public key exported as a JWK).
 */
import { generateKeyPairSync } from 'node:crypto';
import { x25519KeyShare } from '../../../../shared/src/probe/x25519';

const [mode, countArg, secondsArg] = process.argv.slice(2);
const count = Number(countArg);
const until = Date.now() + Number(secondsArg) * 1000;
let junk: object[] = [];
let made = 0;
for (; made < count && Date.now() < until; made++) {
  if (mode === 'generate') generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' });
  else x25519KeyShare();
  junk.push({ made, text: `garbage ${made}` }); // keeps the young generation busy
  if (junk.length > 1000) junk = [];
}
process.stdout.write(`${made}\n`);
