import { Migration } from '@mikro-orm/migrations';

export class Migration20261126011310_sites_and_run_requests extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "agents" add column "site" varchar(63) null;`);
    this.addSql(`create index "agents_site_index" on "agents" ("site");`);

    this.addSql(`alter table "agent_join_tokens" add column "site" varchar(63) null;`);

    this.addSql(
      `alter table "monitor_runs" add column "done" int not null default 0, add column "requested_by" varchar(200) null, add column "request" jsonb null, add column "owner" varchar(200) null, add column "heartbeat_at" timestamptz null;`
    );
    this.addSql(`create index "monitor_runs_status_index" on "monitor_runs" ("status");`);

    this.addSql(`alter table "monitored_endpoints" add column "site" varchar(63) null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "agent_join_tokens" drop column "site";`);

    this.addSql(`drop index "agents_site_index";`);
    this.addSql(`alter table "agents" drop column "site";`);

    this.addSql(`drop index "monitor_runs_status_index";`);
    this.addSql(
      `alter table "monitor_runs" drop column "done", drop column "requested_by", drop column "request", drop column "owner", drop column "heartbeat_at";`
    );

    this.addSql(`alter table "monitored_endpoints" drop column "site";`);
  }
}
