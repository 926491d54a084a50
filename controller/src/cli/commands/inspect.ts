/**
 * `certfleet inspect FILE [--password P | --password-file F] [--key-password P] [--key FILE] [--chain FILE] [--json]`
 *
 * Shows what a certificate/key file holds (PEM, DER, PKCS#7, PKCS#12, JKS) without touching the repository: no
 * database, no configuration. With `--json`, stdout carries exactly one JSON object, either the result or
 * `{"error": {"code", "message"}}`. Exit codes: 0 ok, 2 bad input (any CertFleetError), 64 usage error,
 * 70 unexpected failure. The private key itself and passwords are never printed.
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { Command, CommanderError } from 'commander';
import {
  CertFleetError,
  MAX_INPUT_BYTES,
  type ParsedMaterial,
  isCertFleetError,
  parseMaterial,
} from '@certfleet/shared';

/** Where `inspect` writes. `process.stdout`/`process.stderr` qualify. */
export interface InspectIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

/** Exit codes of `certfleet inspect`. */
export const INSPECT_EXIT_CODES = { ok: 0, badInput: 2, usage: 64, internal: 70 } as const;

/** The `--json` result: {@link ParsedMaterial} without the PEM and without the key material. */
export interface InspectJson {
  format: ParsedMaterial['format'];
  certificates: {
    subject: string;
    issuer: string;
    serial: string;
    notBefore: string;
    notAfter: string;
    sha1: string;
    sha256: string;
    keyAlgorithm: string;
    sans: string[];
  }[];
  privateKey: { algorithm: string; matchesCertificate: boolean | null } | null;
}

interface InspectOptions {
  password?: string | boolean;
  passwordFile?: string | boolean;
  keyPassword?: string | boolean;
  key?: string | boolean;
  chain?: string | boolean;
  json?: boolean;
}

class UsageError extends Error {}

/**
 * The `inspect` command for the `certfleet` program. Its action sets `process.exitCode`; it never calls
 * `process.exit`. Usage errors are detected by the command itself (exit 64, JSON error with `--json`), so it
 * works under a parent program that does not override commander's exit handling.
 */
export function inspectCommand(io: InspectIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  return createInspectCommand(io, (code) => {
    process.exitCode = code;
  });
}

/**
 * Runs `inspect` with `args` (what follows `certfleet inspect`) and returns the exit code instead of setting it.
 * Used by tests and by callers that embed the command.
 */
export async function runInspect(args: readonly string[], io: InspectIo): Promise<number> {
  let exitCode: number = INSPECT_EXIT_CODES.ok;
  const command = createInspectCommand(io, (code) => {
    exitCode = code;
  }).exitOverride();
  try {
    await command.parseAsync([...args], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? INSPECT_EXIT_CODES.ok : INSPECT_EXIT_CODES.usage;
    throw err;
  }
  return exitCode;
}

function createInspectCommand(io: InspectIo, report: (code: number) => void): Command {
  // Arguments and option values are declared optional and unknown options allowed on purpose: commander's own
  // usage errors end in process.exit (or a throw), so inspect validates them itself (see `validate`).
  return new Command('inspect')
    .description('show the certificates and key in a PEM, DER, PKCS#7, PKCS#12 or JKS file (no database needed)')
    .usage('FILE [--password P | --password-file F] [--key-password P] [--key FILE] [--chain FILE] [--json]')
    .argument('[file]', 'certificate, bundle or keystore file')
    .option('--password [password]', 'password of the file (PKCS#12, JKS store, encrypted key)')
    .option('--password-file [file]', 'read the password from a file (first line) instead of the command line')
    .option('--key-password [password]', 'key password when it differs from --password (JKS, encrypted key file)')
    .option('--key [file]', 'separate private key file (PEM or DER)')
    .option('--chain [file]', 'separate chain file (PEM, DER or PKCS#7)')
    .option('--json', 'print exactly one JSON object on stdout')
    .allowUnknownOption()
    .allowExcessArguments()
    .configureOutput({ writeOut: (text) => void io.stdout.write(text), writeErr: (text) => void io.stderr.write(text) })
    .action(async (_file: string | undefined, options: InspectOptions, command: Command) => {
      report(await inspect(command.args, options, io));
    });
}

async function inspect(args: readonly string[], options: InspectOptions, io: InspectIo): Promise<number> {
  const json = options.json === true || args.includes('--json');
  try {
    const request = validate(args, options);
    const password =
      request.passwordFile === undefined ? request.password : await readPasswordFile(request.passwordFile);
    const material = await parseMaterial(await readBounded(request.file, 'file'), {
      ...(password === undefined ? {} : { password }),
      ...(request.keyPassword === undefined ? {} : { keyPassword: request.keyPassword }),
      ...(request.key === undefined ? {} : { key: await readBounded(request.key, 'key file') }),
      ...(request.chain === undefined ? {} : { chain: await readBounded(request.chain, 'chain file') }),
      fileName: basename(request.file),
    });
    const result = toInspectJson(material);
    io.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : formatHuman(request.file, result));
    return INSPECT_EXIT_CODES.ok;
  } catch (err) {
    const [code, error] =
      err instanceof UsageError
        ? [INSPECT_EXIT_CODES.usage, new CertFleetError('CF_VALIDATION', `inspect: ${err.message}`)]
        : isCertFleetError(err)
          ? [INSPECT_EXIT_CODES.badInput, err]
          : [
              INSPECT_EXIT_CODES.internal,
              new CertFleetError('CF_INTERNAL', 'inspect: unexpected failure', { cause: err }),
            ];
    if (json) io.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message } })}\n`);
    else
      io.stderr.write(
        `certfleet inspect: ${error.code}: ${error.message}${code === INSPECT_EXIT_CODES.usage ? ' (see --help)' : ''}\n`
      );
    if (code === INSPECT_EXIT_CODES.internal)
      io.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return code;
  }
}

interface InspectRequest {
  file: string;
  password?: string;
  passwordFile?: string;
  keyPassword?: string;
  key?: string;
  chain?: string;
}

function validate(args: readonly string[], options: InspectOptions): InspectRequest {
  const unknown = args.find((arg) => arg.startsWith('-') && arg !== '--json');
  if (unknown !== undefined) throw new UsageError(`unknown option ${unknown.split('=')[0] as string}`);
  const files = args.filter((arg) => arg !== '--json');
  if (files.length === 0) throw new UsageError('missing FILE');
  if (files.length > 1) throw new UsageError(`expected one FILE, got ${files.length}`);
  const value = (name: string, raw: string | boolean | undefined): string | undefined => {
    if (raw === true || raw === '') throw new UsageError(`--${name} needs a value`);
    return raw === false ? undefined : raw;
  };
  const request: InspectRequest = { file: files[0] as string };
  const password = value('password', options.password);
  const passwordFile = value('password-file', options.passwordFile);
  if (password !== undefined && passwordFile !== undefined)
    throw new UsageError('use --password or --password-file, not both');
  const keyPassword = value('key-password', options.keyPassword);
  const key = value('key', options.key);
  const chain = value('chain', options.chain);
  if (password !== undefined) request.password = password;
  if (passwordFile !== undefined) request.passwordFile = passwordFile;
  if (keyPassword !== undefined) request.keyPassword = keyPassword;
  if (key !== undefined) request.key = key;
  if (chain !== undefined) request.chain = chain;
  return request;
}

/** Reads at most {@link MAX_INPUT_BYTES} (+1 to detect oversize) without loading a huge file into memory. */
async function readBounded(path: string, what: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
    const { size, isFile } = await handle.stat().then((st) => ({ size: st.size, isFile: st.isFile() }));
    if (isFile && size > MAX_INPUT_BYTES) {
      throw new CertFleetError(
        'CF_IMPORT_TOO_LARGE',
        `inspect: ${what} ${path} is ${size} bytes; the limit is ${MAX_INPUT_BYTES} (1 MiB)`,
        {
          details: { size, limit: MAX_INPUT_BYTES },
        }
      );
    }
    const buffer = Buffer.alloc(MAX_INPUT_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) break;
    }
    return buffer.subarray(0, length); // one byte over the limit is reported by parseMaterial as CF_IMPORT_TOO_LARGE
  } catch (err) {
    if (isCertFleetError(err)) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new CertFleetError(
      code === 'ENOENT' ? 'CF_NOT_FOUND' : 'CF_VALIDATION',
      `inspect: cannot read ${what} ${path}: ${code}`
    );
  } finally {
    await handle?.close();
  }
}

async function readPasswordFile(path: string): Promise<string> {
  const text = (await readBounded(path, 'password file')).toString('utf8');
  return text.split(/\r?\n/)[0] ?? '';
}

/** The `--json` document for a parse result. */
export function toInspectJson(material: ParsedMaterial): InspectJson {
  return {
    format: material.format,
    certificates: material.certificates.map((c) => ({
      subject: c.subject,
      issuer: c.issuer,
      serial: c.serial,
      notBefore: c.notBefore,
      notAfter: c.notAfter,
      sha1: c.sha1,
      sha256: c.sha256,
      keyAlgorithm: c.keyAlgorithm,
      sans: c.sans,
    })),
    privateKey:
      material.privateKey === null
        ? null
        : { algorithm: material.privateKey.algorithm, matchesCertificate: material.privateKey.matchesCertificate },
  };
}

const FORMAT_LABELS: Readonly<Record<InspectJson['format'], string>> = {
  pem: 'PEM',
  der: 'DER',
  pkcs7: 'PKCS#7',
  pkcs12: 'PKCS#12',
  jks: 'Java KeyStore',
};

function formatHuman(file: string, result: InspectJson): string {
  const count = result.certificates.length;
  const key = result.privateKey;
  const keyText =
    key === null
      ? 'no private key'
      : `private key ${key.algorithm} (${key.matchesCertificate === true ? 'matches the leaf' : 'DOES NOT match the leaf'})`;
  const lines = [`${file}: ${FORMAT_LABELS[result.format]}, ${count} certificate${count === 1 ? '' : 's'}, ${keyText}`];
  result.certificates.forEach((c, i) => {
    lines.push(
      '',
      `${i === 0 ? 'leaf' : `chain[${i}]`}: ${c.subject}`,
      `  issuer    ${c.issuer}`,
      `  serial    ${c.serial}`,
      `  valid     ${c.notBefore} to ${c.notAfter}`,
      `  key       ${c.keyAlgorithm}`
    );
    if (c.sans.length > 0) lines.push(`  SANs      ${c.sans.join(', ')}`);
    lines.push(`  SHA-256   ${c.sha256}`, `  SHA-1     ${c.sha1}`);
  });
  return `${lines.join('\n')}\n`;
}
