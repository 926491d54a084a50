import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { CertFleetError, atomicWriteFileSync } from '@certfleet/shared';
import { installBundleFile } from '../offline/install-bundle-file';
import { loadContext, type CommonOptions } from './common';

interface Options extends CommonOptions {
  passphraseFile: string;
  signingKey?: string;
  expectSigningKeySha256?: string;
  receipt?: string;
}

/** `certfleet-agent install-bundle FILE --passphrase-file F` (SPEC D3): offline install with a signed receipt. */
export function installBundleCommand(): Command {
  return new Command('install-bundle')
    .description('install a passphrase-sealed offline bundle (no network needed) and write a signed receipt')
    .argument('<file>', 'the sealed bundle (bundle.age)')
    .requiredOption('--passphrase-file <file>', 'file holding the passphrase given with the bundle')
    .option('--signing-key <file>', 'bundle-signing public key (default: bundle-signing.pub next to the bundle)')
    .option('--expect-signing-key-sha256 <hex>', 'refuse unless the signing key has this SHA-256 (from the console)')
    .option('--receipt <file>', 'where to write the receipt (default: receipt.json next to the bundle)')
    .option('--config <file>', 'agent config file (default /etc/certfleet-agent/agent.json)')
    .option('--state-dir <dir>', 'state directory (default from the config)')
    .action(async (file: string, opts: Options) => {
      const { config } = loadContext(opts);
      const effective = opts.stateDir ? { ...config, stateDir: opts.stateDir } : config;
      const read = (f: string, what: string) => {
        try {
          return fs.readFileSync(f, 'utf8');
        } catch (err) {
          throw new CertFleetError('CF_VALIDATION', `agent: cannot read ${what} ${f}: ${(err as Error).message}`);
        }
      };
      const passphrase = read(opts.passphraseFile, 'passphrase file').trim();
      const signingKey = read(opts.signingKey ?? path.join(path.dirname(file), 'bundle-signing.pub'), 'signing key');
      const result = await installBundleFile({
        bundleFile: file,
        passphrase,
        signingPublicKeyPem: signingKey,
        ...(opts.expectSigningKeySha256 ? { expectSigningKeySha256: opts.expectSigningKeySha256 } : {}),
        config: effective,
      });
      const receiptFile = opts.receipt ?? path.join(path.dirname(file), 'receipt.json');
      atomicWriteFileSync(receiptFile, `${JSON.stringify(result.receipt, null, 2)}\n`, 0o644);
      process.stderr.write(`bundle-signing key SHA-256: ${result.signingKeySha256}\n`);
      process.stdout.write(
        `${JSON.stringify({
          bundleId: result.bundleId,
          status: result.outcome.status,
          verified: result.outcome.verified,
          reason: result.outcome.reason,
          message: result.outcome.message,
          rolledBack: result.outcome.rolledBack,
          receipt: receiptFile,
        })}\n`
      );
      if (result.outcome.status !== 'installed') process.exitCode = 1;
    });
}
