import { Migration } from '@mikro-orm/migrations';

/** Login throttling counters shared by all controller processes (SPEC U1; services/login-throttle-store.ts). */
export class Migration20261126035101_login_throttle extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "login_throttle" ("scope" varchar(10) not null, "key_hash" varchar(64) not null, "tokens" double precision null, "at_ms" bigint null, "failures" bigint[] null, "blocked_until_ms" bigint null, "blocks" int null, "result_ms" bigint not null, "expires_at_ms" bigint not null, constraint "login_throttle_pkey" primary key ("scope", "key_hash"));`
    );
    this.addSql(`create index "login_throttle_expires_at_ms_index" on "login_throttle" ("expires_at_ms");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "login_throttle" cascade;`);
  }
}
