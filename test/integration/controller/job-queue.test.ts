import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import test from 'ava';
import pino from 'pino';
import { systemClock } from '@certfleet/shared';
import { HOUSEKEEPING_QUEUE } from '../../../controller/src/scheduler/jobs/housekeeping';
import { startScheduler } from '../../../controller/src/scheduler/scheduler';
import { defaultAcquisitionDeps } from '../../../controller/src/services/acquisition/defaults';
import type { ServiceContext } from '../../../controller/src/services/context';
import { ApiSessionEntity, UserEntity } from '../../../controller/src/storage/entities';
import { masterKeyFromBytes } from '../../../controller/src/secrets/master-key';
import { dropDatabase, freshDatabaseUrl } from '../../_helpers/db';
import { openDatabase } from '../../../controller/src/storage/database';

test('X2 background work runs through pg-boss: two controller replicas on one database run a job once', async (t) => {
  const url = await freshDatabaseUrl();
  const db = await openDatabase(url);
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(chunk.toString()), cb()) });
  const log = pino({ level: 'info' }, sink);
  const ctx: ServiceContext = { db, masterKey: masterKeyFromBytes(crypto.randomBytes(32)), clock: systemClock, log };
  const acquisition = defaultAcquisitionDeps(ctx);
  const a = await startScheduler(url, { ctx, acquisition, log: log.child({ replica: 'a' }) });
  const b = await startScheduler(url, { ctx, acquisition, log: log.child({ replica: 'b' }) });
  try {
    const em = db.em();
    const user = em.create(UserEntity, {
      id: crypto.randomUUID(),
      username: 'u',
      passwordHash: 'x',
      role: 'user',
      mustChangePassword: false,
      createdAt: new Date(),
      updatedAt: new Date(),
    });
    const past = new Date(Date.now() - 86_400_000);
    em.persist(user);
    em.persist(
      em.create(ApiSessionEntity, {
        id: crypto.randomUUID(),
        userId: user.id,
        tokenSha256: 'a'.repeat(64),
        createdAt: past,
        expiresAt: past,
        lastSeenAt: past,
      })
    );
    em.persist(
      em.create(ApiSessionEntity, {
        id: crypto.randomUUID(),
        userId: user.id,
        tokenSha256: 'b'.repeat(64),
        createdAt: new Date(),
        expiresAt: new Date(Date.now() + 3600_000),
        lastSeenAt: new Date(),
      })
    );
    await em.flush();

    const schedules = await a.boss.getSchedules();
    t.true(
      schedules.some((s) => s.name === HOUSEKEEPING_QUEUE),
      'housekeeping is scheduled (cron)'
    );

    const jobId = await a.boss.send(HOUSEKEEPING_QUEUE, {});
    t.truthy(jobId);
    const duplicate = await b.boss.send(HOUSEKEEPING_QUEUE, {});
    t.is(duplicate, null, 'the stately queue holds one queued housekeeping job whichever replica asks');
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !lines.some((l) => l.includes('housekeeping done')))
      await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1500)); // give the other replica a chance to (wrongly) run it too
    const runs = lines.filter((l) => l.includes('housekeeping done'));
    t.is(runs.length, 1, 'exactly one replica ran the job');
    t.is(JSON.parse(runs[0]!).purgedSessions, 1);
    t.is(await db.em().count(ApiSessionEntity, {}), 1, 'the live session stays');
  } finally {
    await a.stop();
    await b.stop();
    await db.close();
    await dropDatabase(url);
  }
});
