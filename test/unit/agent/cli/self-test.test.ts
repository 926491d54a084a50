import test from 'ava';
import { buildAgentCli } from '../../../../agent/src/main';
import { runSelfTest } from '../../../../agent/src/cli/self-test';
import { AGENT_VERSION } from '../../../../agent/src/version';

test('G5 self-test seals and opens an age bundle in memory (outside the executable: sea is false)', async (t) => {
  const result = await runSelfTest();
  t.true(result.ok);
  t.is(result.version, AGENT_VERSION);
  t.false(result.sea);
  t.deepEqual(result.checks, ['age-keypair', 'x509-self-signed', 'bundle-seal', 'bundle-open']);
  t.true(result.bundleBytes > 0);
});

test('G5 the agent CLI registers the self-test command', (t) => {
  t.true(buildAgentCli().commands.some((c) => c.name() === 'self-test'));
});
