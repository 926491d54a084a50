import { Migration } from '@mikro-orm/migrations';

export class Migration20261125233849_monitoring extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "monitor_runs" ("id" uuid not null, "trigger" varchar(20) not null, "status" varchar(20) not null, "started_at" timestamptz not null, "finished_at" timestamptz null, "endpoints" int not null, "ok" int not null, "warning" int not null, "failing" int not null, "report" jsonb null, constraint "monitor_runs_pkey" primary key ("id"));`
    );
    this.addSql(`create index "monitor_runs_started_at_index" on "monitor_runs" ("started_at");`);

    this.addSql(
      `create table "monitored_endpoints" ("id" uuid not null, "definition_id" uuid not null, "host" varchar(253) not null, "port" int not null, "server_name" varchar(253) null, "starttls" varchar(10) null, "probe_from" varchar(20) not null, "agent_id" uuid null, "enabled" boolean not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "monitored_endpoints_pkey" primary key ("id"));`
    );
    this.addSql(`create index "monitored_endpoints_definition_id_index" on "monitored_endpoints" ("definition_id");`);
    this.addSql(`create index "monitored_endpoints_agent_id_index" on "monitored_endpoints" ("agent_id");`);

    this.addSql(
      `create table "trust_sets" ("id" uuid not null, "name" varchar(100) not null, "description" text null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "trust_sets_pkey" primary key ("id"));`
    );
    this.addSql(`alter table "trust_sets" add constraint "trust_sets_name_unique" unique ("name");`);

    this.addSql(
      `create table "trust_set_roots" ("id" uuid not null, "trust_set_id" uuid not null, "sha256" varchar(64) not null, "subject" text not null, "pem" text not null, "added_at" timestamptz not null, constraint "trust_set_roots_pkey" primary key ("id"));`
    );
    this.addSql(
      `alter table "trust_set_roots" add constraint "trust_set_roots_trust_set_id_sha256_unique" unique ("trust_set_id", "sha256");`
    );

    this.addSql(
      `alter table "monitored_endpoints" add constraint "monitored_endpoints_definition_id_foreign" foreign key ("definition_id") references "certificate_definitions" ("id") on update cascade on delete cascade;`
    );
    this.addSql(
      `alter table "monitored_endpoints" add constraint "monitored_endpoints_agent_id_foreign" foreign key ("agent_id") references "agents" ("id") on update cascade on delete set null;`
    );

    this.addSql(
      `alter table "trust_set_roots" add constraint "trust_set_roots_trust_set_id_foreign" foreign key ("trust_set_id") references "trust_sets" ("id") on update cascade on delete cascade;`
    );

    this.addSql(
      `alter table "monitoring_history" add column "run_id" uuid null, add column "endpoint_id" uuid null, add column "leaf_sha256" varchar(64) null, add column "leaf_sha1" varchar(40) null, add column "leaf_not_after" timestamptz null, add column "probed_by" varchar(100) null, add column "checks" jsonb null;`
    );
    this.addSql(
      `alter table "monitoring_history" add constraint "monitoring_history_run_id_foreign" foreign key ("run_id") references "monitor_runs" ("id") on update cascade on delete cascade;`
    );
    this.addSql(
      `alter table "monitoring_history" add constraint "monitoring_history_endpoint_id_foreign" foreign key ("endpoint_id") references "monitored_endpoints" ("id") on update cascade on delete set null;`
    );
    this.addSql(`create index "monitoring_history_run_id_index" on "monitoring_history" ("run_id");`);
    this.addSql(`create index "monitoring_history_endpoint_id_index" on "monitoring_history" ("endpoint_id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "monitoring_history" drop constraint "monitoring_history_run_id_foreign";`);

    this.addSql(`alter table "monitoring_history" drop constraint "monitoring_history_endpoint_id_foreign";`);

    this.addSql(`alter table "trust_set_roots" drop constraint "trust_set_roots_trust_set_id_foreign";`);

    this.addSql(`drop table if exists "monitor_runs" cascade;`);

    this.addSql(`drop table if exists "monitored_endpoints" cascade;`);

    this.addSql(`drop table if exists "trust_sets" cascade;`);

    this.addSql(`drop table if exists "trust_set_roots" cascade;`);

    this.addSql(`drop index "monitoring_history_run_id_index";`);
    this.addSql(`drop index "monitoring_history_endpoint_id_index";`);
    this.addSql(
      `alter table "monitoring_history" drop column "run_id", drop column "endpoint_id", drop column "leaf_sha256", drop column "leaf_sha1", drop column "leaf_not_after", drop column "probed_by", drop column "checks";`
    );
  }
}
