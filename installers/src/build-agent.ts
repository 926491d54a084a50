/**
 * `npm run build:agent` (SPEC G5): builds the agent into ONE self-contained Linux executable,
 * `installers/dist/certfleet-agent`, that needs neither Node nor node_modules on the host.
 *
 * 1. **Bundle.** esbuild bundles `agent/src/sea-entry.ts` and every dependency (commander, @grpc/grpc-js, zod,
 *    @certfleet/shared with node-forge, jks-js, @peculiar/x509 + reflect-metadata, and the ESM-only age-encryption
 *    that shared loads through `import()`) into one CommonJS file. A Node 20 SEA main script can `require()` only
 *    built-in modules and cannot `import()` at all, so the build fails when anything else stays external.
 * 2. **Single executable.** @yao-pkg/pkg's SEA route (the only one that works offline) writes the SEA config,
 *    generates the blob with this Node (`useLocalNode`) and injects it into a copy of that Node with postject.
 * 3. **Verify.** pkg swallows injection failures and then leaves a plain copy of node behind, so the result is run
 *    with an empty environment: `--version` must print {@link AGENT_VERSION} (not node's version) and `self-test`
 *    must report `{"ok":true,"sea":true}`. Any mismatch fails the build.
 *
 * Options: `--reuse` skips step 2 when the executable was built from the same bundle, Node and build script
 * (the inputs hash in `certfleet-agent.build.json`); `--out <file>` writes elsewhere.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { AGENT_VERSION } from '../../agent/src/version';

const run = promisify(execFile);

/** The repository root. */
export const ROOT = path.resolve(__dirname, '..', '..');
/** The bundled entry point. */
export const AGENT_ENTRY = path.join(ROOT, 'agent', 'src', 'sea-entry.ts');
/** Default output: the executable (gitignored). */
export const AGENT_EXECUTABLE = path.join(ROOT, 'installers', 'dist', 'certfleet-agent');

/** Where the intermediate single CommonJS file of `output` goes: `<dir>/agent-bundle/<name>.cjs`. */
export function bundleFileFor(output: string): string {
  return path.join(path.dirname(output), 'agent-bundle', `${path.basename(output)}.cjs`);
}

export interface BuildAgentOptions {
  /** @default {@link AGENT_EXECUTABLE} */
  output?: string;
  /** Keep an existing executable built from the same inputs (still verified). @default false */
  reuse?: boolean;
  /** Progress lines. @default writes to stdout */
  log?: (line: string) => void;
}

export interface BuildAgentResult {
  output: string;
  /** The intermediate single CommonJS file (next to the output). */
  bundle: string;
  bytes: number;
  bundleBytes: number;
  /** SHA-256 over the bundle, the Node binary and this script: equal hashes give the same executable. */
  inputHash: string;
  reused: boolean;
  ms: number;
}

/** Written next to the executable; `--reuse` compares its `inputHash`. */
interface BuildStamp {
  inputHash: string;
  version: string;
  node: string;
  bytes: number;
}

type SeaTarget = { nodeRange: string; platform: 'linux'; arch: string; output: string };
type SeaFunction = (
  entry: string,
  opts: { targets: SeaTarget[]; useLocalNode: boolean; signature: boolean }
) => Promise<void>;

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

function packageVersion(name: string): string {
  const file = path.join(ROOT, 'node_modules', ...name.split('/'), 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

/** Runs `file args` with an empty environment (PATH=/nonexistent): what a bare host gives the agent. */
async function runBare(file: string, args: string[]): Promise<string> {
  const { stdout } = await run(file, args, { env: { PATH: '/nonexistent' }, cwd: '/', timeout: 30_000 });
  return stdout;
}

/**
 * Step 1: one CommonJS file with every dependency inside; fails if anything but a Node built-in stays external.
 * Written atomically (temporary file + rename), so a reader never sees half a bundle.
 */
async function bundle(outfile: string, log: (line: string) => void): Promise<void> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [AGENT_ENTRY],
    outfile,
    write: false,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    tsconfig: path.join(ROOT, 'tsconfig.json'),
    metafile: true,
    legalComments: 'eof',
    logLevel: 'silent',
  });
  for (const w of result.warnings) log(`  esbuild warning: ${w.text} (${w.location?.file ?? '?'})`);
  const [output] = Object.values(result.metafile.outputs);
  const external = (output?.imports ?? []).filter((i) => i.external && !isBuiltin(i.path));
  if (external.length > 0) {
    throw new Error(
      `build-agent: the bundle still imports ${external.map((i) => `${i.path} (${i.kind})`).join(', ')}; ` +
        'a single executable can load only Node built-ins'
    );
  }
  if ((output?.imports ?? []).some((i) => i.kind === 'dynamic-import')) {
    throw new Error('build-agent: the bundle keeps a dynamic import(); a Node 20 SEA main script cannot import()');
  }
  const inputs = Object.keys(result.metafile.inputs);
  // The ESM-only dependency reached through import(): it must be inside, not left to a run-time import().
  if (!inputs.some((p) => p.includes('node_modules/age-encryption/'))) {
    throw new Error('build-agent: age-encryption is missing from the bundle');
  }
  const packages = new Set(inputs.map((p) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(p)?.[1]).filter(Boolean));
  log(`  ${inputs.length} modules from ${packages.size} packages`);
  const file = result.outputFiles.find((f) => f.path === outfile);
  if (!file) throw new Error(`build-agent: esbuild produced no ${outfile}`);
  fs.mkdirSync(path.dirname(outfile), { recursive: true });
  fs.writeFileSync(`${outfile}.tmp`, file.contents);
  fs.renameSync(`${outfile}.tmp`, outfile);
}

function inputHashOf(bundleFile: string): string {
  const node = fs.statSync(process.execPath);
  return sha256(
    [
      sha256(fs.readFileSync(bundleFile)),
      process.version,
      process.execPath,
      `${node.size}:${node.mtimeMs}`,
      sha256(fs.readFileSync(__filename)),
      packageVersion('@yao-pkg/pkg'),
      packageVersion('postject'),
    ].join('\n')
  );
}

function readStamp(file: string): BuildStamp | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as BuildStamp;
  } catch {
    return undefined;
  }
}

/**
 * Step 2 through @yao-pkg/pkg's SEA API. pkg chdirs into `os.tmpdir()/pkg-sea/<time>` and runs `node
 * --experimental-sea-config` and `npx postject` from there, so: this Node must come first on PATH (the blob and the
 * copied binary must be the same Node), and the temporary directory must sit inside the repository so that npx
 * finds the postject devDependency (npx here never downloads; outside a project it would refuse).
 */
async function makeSingleExecutable(bundleFile: string, output: string): Promise<void> {
  if (process.platform !== 'linux')
    throw new Error(`build-agent: only Linux executables are built (not ${process.platform})`);
  if (!fs.existsSync(path.join(ROOT, 'node_modules', '.bin', 'postject'))) {
    throw new Error('build-agent: postject is not installed (npm ci installs it as a devDependency)');
  }
  const tmp = path.join(path.dirname(output), '.tmp');
  fs.mkdirSync(tmp, { recursive: true });
  const saved = { TMPDIR: process.env.TMPDIR, PATH: process.env.PATH };
  process.env.TMPDIR = tmp;
  process.env.PATH = [path.dirname(process.execPath), path.join(ROOT, 'node_modules', '.bin'), saved.PATH]
    .filter(Boolean)
    .join(path.delimiter);
  try {
    // pkg ships no types for its SEA module and cannot be import()ed by a deep path typed; load it lazily.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sea = (require('@yao-pkg/pkg/lib-es5/sea') as { default: SeaFunction }).default;
    await sea(bundleFile, {
      targets: [
        { nodeRange: `node${process.versions.node.split('.')[0]}`, platform: 'linux', arch: process.arch, output },
      ],
      useLocalNode: true,
      signature: false,
    });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Step 3: the executable must be the agent, not a plain copy of node, and its bundled libraries must work.
 * Throws when `--version` (run with an empty environment) does not print {@link AGENT_VERSION} or `self-test` does
 * not report `{"ok":true,"sea":true}`.
 */
export async function verifyAgentExecutable(output: string, log: (line: string) => void = () => {}): Promise<void> {
  const exe = fs.statSync(output, { throwIfNoEntry: false });
  if (!exe?.isFile()) throw new Error(`build-agent: ${output} was not written`);
  const node = fs.statSync(process.execPath);
  const version = (await runBare(output, ['--version']).catch((err: Error) => `failed: ${err.message}`)).trim();
  if (version !== AGENT_VERSION) {
    const plainNode = version === process.version || exe.size === node.size;
    throw new Error(
      `build-agent: ${output} --version printed ${JSON.stringify(version)}, expected ${AGENT_VERSION}` +
        (plainNode ? ': it is a plain copy of node (the SEA blob was not injected; is postject installed?)' : '')
    );
  }
  const selfTest = (await runBare(output, ['self-test'])).trim();
  const parsed = JSON.parse(selfTest) as { ok?: boolean; sea?: boolean };
  if (parsed.ok !== true || parsed.sea !== true) throw new Error(`build-agent: self-test failed: ${selfTest}`);
  log(`  --version → ${version}; self-test → ok (${selfTest.length} bytes of JSON)`);
}

/** Builds (or, with `reuse`, re-verifies) the agent executable. Throws on any failure. */
export async function buildAgentExecutable(opts: BuildAgentOptions = {}): Promise<BuildAgentResult> {
  const log = opts.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const output = path.resolve(opts.output ?? AGENT_EXECUTABLE);
  const bundleFile = bundleFileFor(output);
  const stampFile = `${output}.build.json`;
  const t0 = Date.now();

  log(`[build-agent] 1/3 bundling ${path.relative(ROOT, AGENT_ENTRY)} with esbuild ${packageVersion('esbuild')} …`);
  await bundle(bundleFile, log);
  const bundleBytes = fs.statSync(bundleFile).size;
  log(`  → ${path.relative(ROOT, bundleFile)} (${mib(bundleBytes)}) in ${secs(Date.now() - t0)}`);

  const inputHash = inputHashOf(bundleFile);
  const stamp = readStamp(stampFile);
  const reused =
    opts.reuse === true &&
    stamp?.inputHash === inputHash &&
    fs.statSync(output, { throwIfNoEntry: false })?.size === stamp.bytes;
  const t1 = Date.now();
  if (reused) {
    log(
      `[build-agent] 2/3 ${path.relative(ROOT, output)} is up to date (inputs ${inputHash.slice(0, 12)}), reusing it`
    );
  } else {
    log(
      `[build-agent] 2/3 making a Node ${process.version} single executable with @yao-pkg/pkg ${packageVersion('@yao-pkg/pkg')} (SEA) …`
    );
    fs.rmSync(stampFile, { force: true });
    fs.rmSync(output, { force: true });
    await makeSingleExecutable(bundleFile, output);
    fs.chmodSync(output, 0o755);
    log(`  → ${path.relative(ROOT, output)} in ${secs(Date.now() - t1)}`);
  }

  log('[build-agent] 3/3 verifying with an empty environment (env -i PATH=/nonexistent) …');
  await verifyAgentExecutable(output, log);
  const bytes = fs.statSync(output).size;
  if (!reused) {
    const newStamp: BuildStamp = { inputHash, version: AGENT_VERSION, node: process.version, bytes };
    fs.writeFileSync(stampFile, `${JSON.stringify(newStamp, null, 2)}\n`);
  }
  const ms = Date.now() - t0;
  log(`[build-agent] done: ${path.relative(ROOT, output)} ${mib(bytes)} (bundle ${mib(bundleBytes)}), ${secs(ms)}`);
  return { output, bundle: bundleFile, bytes, bundleBytes, inputHash, reused, ms };
}

function parseArgs(argv: string[]): BuildAgentOptions {
  const opts: BuildAgentOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--reuse') opts.reuse = true;
    else if (a === '--out' && argv[i + 1]) opts.output = argv[++i];
    else
      throw new Error(`build-agent: unknown argument ${JSON.stringify(a)} (usage: build-agent [--reuse] [--out FILE])`);
  }
  return opts;
}

if (require.main === module) {
  Promise.resolve()
    .then(() => buildAgentExecutable(parseArgs(process.argv.slice(2))))
    .catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    });
}
