import test from 'ava';
import { MAX_TAIL_BYTES, describeExecResult, runCommand } from '../../../../agent/src/platform/exec';

test('D2 exec: argv is passed as is, never through a shell', async (t) => {
  const r = await runCommand(['echo', '$HOME; touch /tmp/pwned'], { timeoutMs: 5000 });
  t.true(r.ok);
  t.is(r.stdoutTail, '$HOME; touch /tmp/pwned\n');
});

test('D2 exec: a non-zero exit keeps only the last 4 KiB of stderr', async (t) => {
  const script = "process.stderr.write('x'.repeat(20000) + 'THE-END'); process.exit(3)";
  const r = await runCommand([process.execPath, '-e', script], { timeoutMs: 10_000 });
  t.false(r.ok);
  t.is(r.exitCode, 3);
  t.true(r.stderrTail.length <= MAX_TAIL_BYTES);
  t.true(r.stderrTail.endsWith('THE-END'));
  t.is(describeExecResult(r), 'exit code 3');
});

test('D2 exec: a command running past its timeout is killed', async (t) => {
  const started = Date.now();
  const r = await runCommand(['sleep', '30'], { timeoutMs: 300 });
  t.false(r.ok);
  t.true(r.timedOut);
  t.true(Date.now() - started < 5000);
  t.regex(describeExecResult(r, 300), /timed out after 300 ms/);
});

test('D2 exec: a missing program is a result, not an exception', async (t) => {
  const r = await runCommand(['/nonexistent/certfleet-no-such-binary'], { timeoutMs: 1000 });
  t.false(r.ok);
  t.regex(r.error ?? '', /ENOENT/);
});
