import { Migration } from '@mikro-orm/migrations';

export class Migration20261126011615_discovery_scans extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "discovery_scans" ("id" uuid not null, "status" varchar(20) not null, "run_by" varchar(20) not null, "agent_id" uuid null, "agent_job_id" uuid null, "targets" jsonb not null, "ports" jsonb not null, "options" jsonb not null, "total" int not null, "done" int not null, "findings" int not null, "stats" jsonb null, "error" text null, "created_by" varchar(200) not null, "created_at" timestamptz not null, "started_at" timestamptz null, "finished_at" timestamptz null, "updated_at" timestamptz not null, "runner_key" int null, constraint "discovery_scans_pkey" primary key ("id"));`
    );
    this.addSql(`create index "discovery_scans_status_index" on "discovery_scans" ("status");`);
    this.addSql(`create index "discovery_scans_agent_id_index" on "discovery_scans" ("agent_id");`);
    this.addSql(`create index "discovery_scans_agent_job_id_index" on "discovery_scans" ("agent_job_id");`);
    this.addSql(`create index "discovery_scans_created_at_index" on "discovery_scans" ("created_at");`);

    this.addSql(
      `create table "discovery_findings" ("id" uuid not null, "scan_id" uuid not null, "host" varchar(253) not null, "port" int not null, "address" varchar(64) not null, "server_name" varchar(253) null, "starttls" varchar(10) null, "protocol" varchar(50) null, "cipher" varchar(200) null, "sha256" varchar(64) not null, "sha1" varchar(40) not null, "common_name" text null, "subject" text not null, "issuer" text not null, "not_before" timestamptz null, "not_after" timestamptz null, "serial" varchar(100) not null, "sans" jsonb not null, "validity" varchar(20) not null, "trusted" boolean not null, "self_signed" boolean not null, "days_to_expiry" int null, "weak_algorithms" jsonb not null, "status" varchar(10) not null, "reason" varchar(100) not null, "message" text not null, "checks" jsonb not null, "pem" text not null, "chain_pem" jsonb not null, "probed_by" varchar(100) not null, "found_at" timestamptz not null, constraint "discovery_findings_pkey" primary key ("id"));`
    );
    this.addSql(`create index "discovery_findings_sha256_index" on "discovery_findings" ("sha256");`);
    this.addSql(
      `alter table "discovery_findings" add constraint "discovery_findings_scan_id_host_port_unique" unique ("scan_id", "host", "port");`
    );

    this.addSql(
      `alter table "discovery_scans" add constraint "discovery_scans_agent_id_foreign" foreign key ("agent_id") references "agents" ("id") on update cascade on delete set null;`
    );
    this.addSql(
      `alter table "discovery_scans" add constraint "discovery_scans_agent_job_id_foreign" foreign key ("agent_job_id") references "agent_jobs" ("id") on update cascade on delete set null;`
    );

    this.addSql(
      `alter table "discovery_findings" add constraint "discovery_findings_scan_id_foreign" foreign key ("scan_id") references "discovery_scans" ("id") on update cascade on delete cascade;`
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "discovery_findings" drop constraint "discovery_findings_scan_id_foreign";`);

    this.addSql(`drop table if exists "discovery_scans" cascade;`);

    this.addSql(`drop table if exists "discovery_findings" cascade;`);
  }
}
